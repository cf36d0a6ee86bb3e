"""Running the git binary for server-side work: one environment policy, one error type."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from podium.errors import BadRequest, PodiumError

ZERO_OID = "0" * 40
DEFAULT_BRANCH = "main"


class GitCommandFailed(PodiumError):
    code = "git_failed"


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without GIT_* variables, which would redirect git to another
    repository (e.g. when Podium itself runs inside a git hook), and never prompting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    if extra:
        env.update(extra)
    return env


def run_git(
    args: Sequence[str],
    *,
    git_dir: Path | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    cmd = ["git"]
    if git_dir is not None:
        cmd += ["--git-dir", str(git_dir)]
    cmd += list(args)
    proc = subprocess.run(
        cmd, input=input, capture_output=True, env=git_env(env), cwd=cwd, timeout=timeout,
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise GitCommandFailed(f"git {args[0]} failed: {err}")
    return proc


def check_rev(rev: str) -> str:
    """Refuse revisions git would read as options or that are not plain text."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n\r"):
        raise BadRequest(f"invalid git revision {rev!r}")
    return rev


def check_repo_path(path: str) -> str:
    """A path inside a commit's tree, normalised; '..' and absolute tricks refused."""
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or any(c in path for c in "\0\n"):
        raise BadRequest(f"invalid path {path!r}")
    return "/".join(parts)
