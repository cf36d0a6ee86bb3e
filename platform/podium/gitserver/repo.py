"""Bare repositories on disk, one per Space, and the reads and writes the rest of Podium
needs from them (the dashboard's Files view, build contexts, templates, imports)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from podium.config import Settings
from podium.errors import AlreadyExists, BadRequest, BuildError, NotFound
from podium.names import SpaceId

from .git import DEFAULT_BRANCH, ZERO_OID, GitCommandFailed, check_repo_path, check_rev, git_env
from .git import run_git as _git
from .lfsstore import LfsStore
from .relay import PUSHER_VAR as PUSHER_VAR  # re-exported: the git server's hook variables
from .relay import PYTHON_VAR as PYTHON_VAR
from .relay import SPACE_VAR as SPACE_VAR
from .relay import repo_size as repo_size

if not hasattr(tarfile, "data_filter"):
    # Extraction filters came in Python 3.11.4; Debian bookworm's python3.11 (3.11.2, what
    # the platform image for compose.yaml runs on) has none: the same module, backported.
    from backports import tarfile  # type: ignore[no-redef]

HOOKS = ("pre-receive", "post-receive")
# The hooks run relay.py: the standard library only, so a push does not wait for two
# processes importing the platform (the in-process hook.py is its fallback).
HOOK_ENTRY = """import sys
from podium.gitserver.relay import run
code = run(sys.argv[1:])
if code is None:  # not a push through the git server, or the server cannot be reached
    from podium.gitserver.hook import main
    code = main(sys.argv[1:])
sys.exit(code)
"""
REPO_CONFIG = {
    "http.receivepack": "true",
    # Reflogs record each push with the pusher as committer (http-backend sets
    # GIT_COMMITTER_NAME from REMOTE_USER): bare repos keep none by default.
    "core.logAllRefUpdates": "true",
    "receive.fsckObjects": "true",
}


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str  # relative to the repository root
    type: str  # "blob", "tree" or "commit" (a submodule)
    mode: str
    oid: str
    size: int | None  # blobs only


def _hook_script(name: str) -> str:
    # `-c`, not `-m podium.gitserver.hook`: runpy would import the module twice (once as a
    # package member, once as __main__) and print a RuntimeWarning into every push's
    # `remote:` lines (issue item 16).
    # The server passes its interpreter in the environment; the baked-in one serves pushes
    # that do not come through the server (an admin pushing to the path directly).
    return (
        "#!/bin/sh\n"
        "# Installed by Podium (podium.gitserver.repo); rewritten when it changes.\n"
        f'exec "${{{PYTHON_VAR}:-{sys.executable}}}" -c {shlex.quote(HOOK_ENTRY)} {name}\n'
    )


def _install_hooks(git_dir: Path) -> None:
    hooks = git_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        path = hooks / name
        script = _hook_script(name)
        try:
            if path.read_text() == script:
                continue
        except FileNotFoundError:
            pass
        # Replace atomically: a concurrent push must never run a half-written hook.
        fd, tmp = tempfile.mkstemp(dir=hooks, prefix=f".{name}.")
        with os.fdopen(fd, "w") as f:
            f.write(script)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)


def _init_bare(git_dir: Path) -> None:
    _git(["init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(git_dir)])
    for key, value in REPO_CONFIG.items():
        _git(["config", key, value], git_dir=git_dir)
    for sample in (git_dir / "hooks").glob("*.sample"):
        sample.unlink()
    _install_hooks(git_dir)


def repo_exists(settings: Settings, space_id: SpaceId) -> bool:
    return (space_id.repo_path(settings.repos_dir) / "HEAD").is_file()


def ensure_repo(settings: Settings, space_id: SpaceId) -> Path:
    """The Space's bare repository, created (default branch main, hooks installed) on first
    use. Safe to call concurrently and on every request."""
    git_dir = space_id.repo_path(settings.repos_dir)
    if (git_dir / "HEAD").is_file():
        _install_hooks(git_dir)
        return git_dir
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build it beside its final place and rename: a concurrent first access sees either no
    # repository or a complete one.
    tmp = Path(tempfile.mkdtemp(dir=git_dir.parent, prefix=f".{git_dir.name}."))
    try:
        _init_bare(tmp)
        try:
            os.rename(tmp, git_dir)
        except OSError:
            if not (git_dir / "HEAD").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return git_dir


def _existing_repo(settings: Settings, space_id: SpaceId) -> Path:
    git_dir = space_id.repo_path(settings.repos_dir)
    if not (git_dir / "HEAD").is_file():
        raise NotFound(f"Space {space_id} has no repository yet", hint="push to it first")
    return git_dir


def _resolve_commit(git_dir: Path, commit: str) -> str:
    proc = _git(
        ["rev-parse", "--verify", "--quiet", f"{check_rev(commit)}^{{commit}}"],
        git_dir=git_dir, check=False,
    )
    if proc.returncode != 0:
        raise NotFound(f"no commit {commit!r} in this Space")
    return proc.stdout.decode().strip()


def head_commit(settings: Settings, space_id: SpaceId, branch: str = DEFAULT_BRANCH) -> str | None:
    """The commit at the tip of ``branch``, or None when the branch or repository is absent."""
    git_dir = space_id.repo_path(settings.repos_dir)
    if not (git_dir / "HEAD").is_file():
        return None
    ref = f"refs/heads/{check_rev(branch)}"
    if _git(["check-ref-format", ref], check=False).returncode != 0:
        raise BadRequest(f"invalid branch name {branch!r}")
    proc = _git(["rev-parse", "--verify", "--quiet", ref], git_dir=git_dir, check=False)
    return proc.stdout.decode().strip() or None


def read_tree(
    settings: Settings, space_id: SpaceId, commit: str, path: str = "", recursive: bool = True,
) -> list[TreeEntry]:
    """Entries of the tree at ``path`` in ``commit`` (all files below it when recursive)."""
    git_dir = _existing_repo(settings, space_id)
    sha = _resolve_commit(git_dir, commit)
    prefix = check_repo_path(path)
    args = ["ls-tree", "-z", "-l"] + (["-r"] if recursive else []) + [f"{sha}:{prefix}"]
    proc = _git(args, git_dir=git_dir, check=False)
    if proc.returncode != 0:
        raise NotFound(f"no directory {prefix!r} in commit {sha[:12]}")
    entries = []
    for record in proc.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.decode(errors="surrogateescape").partition("\t")
        mode, kind, oid, size = meta.split()
        full = f"{prefix}/{name}" if prefix else name
        entries.append(TreeEntry(full, kind, mode, oid, None if size == "-" else int(size)))
    return entries


def read_file(
    settings: Settings, space_id: SpaceId, commit: str, path: str, *, smudge: bool = True,
) -> bytes:
    """The file's contents; a Git LFS pointer gives its object's (unless not ``smudge``)."""
    git_dir = _existing_repo(settings, space_id)
    sha = _resolve_commit(git_dir, commit)
    clean = check_repo_path(path)
    proc = _git(["cat-file", "blob", f"{sha}:{clean}"], git_dir=git_dir, check=False)
    if not clean or proc.returncode != 0:
        raise NotFound(f"no file {clean!r} in commit {sha[:12]}")
    return LfsStore(git_dir).smudge(proc.stdout) if smudge else proc.stdout


def export_commit(settings: Settings, space_id: SpaceId, commit: str, dest: Path) -> str:
    """Write the files of ``commit`` into ``dest`` (a build context), Git LFS pointers
    replaced by their objects; returns the full sha."""
    git_dir = _existing_repo(settings, space_id)
    sha = _resolve_commit(git_dir, commit)
    extract_commit(git_dir, sha, dest)
    LfsStore(git_dir).smudge_tree(dest)
    return sha


def extract_commit(git_dir: Path, sha: str, dest: Path) -> None:
    """The files of ``sha`` (in ``git_dir``) into ``dest``, LFS pointers as they are (a
    local repository's export, or a fetched one's: gitserver/remote.py).

    Streams ``git archive`` through tarfile's "data" filter, so a hostile tree (absolute
    symlinks, device files) cannot write outside ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["git", "--git-dir", str(git_dir), "archive", "--format=tar", sha]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=git_env())
    assert proc.stdout is not None and proc.stderr is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise BuildError(
            f"commit {sha[:12]} holds a file that cannot be exported: {exc}",
            hint="replace symbolic links pointing outside the repository with real files",
        ) from exc
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.wait() != 0:
            raise GitCommandFailed(f"git archive failed: {err.strip()}")


def is_empty(git_dir: Path) -> bool:
    proc = _git(["for-each-ref", "--count=1", "refs/"], git_dir=git_dir)
    return not proc.stdout.strip()


def init_from_template(
    settings: Settings, space_id: SpaceId, template_dir: Path, author: str,
) -> str:
    """Commit the files of ``template_dir`` as the first commit of main; returns its sha.

    Writes the ref directly, so no hook runs: the caller starts the first build itself."""
    if not template_dir.is_dir():
        raise NotFound(f"template directory {template_dir} does not exist")
    git_dir = ensure_repo(settings, space_id)
    if not is_empty(git_dir):
        raise AlreadyExists(f"Space {space_id} already has commits")
    identity = {
        "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author}@{settings.domain}",
        "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": f"{author}@{settings.domain}",
    }
    with tempfile.TemporaryDirectory(prefix="podium-index-") as tmp:
        # A private index keeps the bare repository free of any work-tree state.
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **identity}
        work = ["--work-tree", str(template_dir)]
        _git([*work, "add", "--all", "."], git_dir=git_dir, env=env, cwd=template_dir)
        tree = _git(["write-tree"], git_dir=git_dir, env=env).stdout.decode().strip()
    message = f"Create {space_id} from template {template_dir.name}\n".encode()
    sha = _git(["commit-tree", tree], git_dir=git_dir, env=identity, input=message)
    commit = sha.stdout.decode().strip()
    # Old value zero: fails instead of overwriting if a push landed meanwhile.
    ref = f"refs/heads/{DEFAULT_BRANCH}"
    _git(["update-ref", "-m", "create from template", ref, commit, ZERO_OID], git_dir=git_dir)
    return commit
