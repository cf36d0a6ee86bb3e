"""Importing a Space from a public http(s) git URL, the one place the platform fetches a
user-given URL: through the egress guard (podium.netguard), pinned to the checked address,
bounded in connect time, total time and size.

The caller runs this off the request path (podium.controller.imports): a source that
accepts and never answers holds a worker thread for ``import_timeout`` at most.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from podium.config import Settings
from podium.errors import AlreadyExists, BadRequest
from podium.names import SpaceId
from podium.netguard import AllowList, EgressRefused, Target, check_url, probe

from .git import DEFAULT_BRANCH, ZERO_OID, git_env
from .git import run_git as _git
from .repo import ensure_repo, is_empty, repo_size

log = logging.getLogger(__name__)

# How often a running clone's size and clock are looked at.
_POLL_S = 0.25
# A transfer slower than this many bytes/s for import_stall_s is given up (curl's own
# low-speed limit, which also covers a server that accepts and then says nothing).
_LOW_SPEED_BYTES = 1000
# _run_clone's exit code when it killed the clone at import_timeout.
_TIMED_OUT = -1


def _clone_config(target: Target, settings: Settings) -> list[str]:
    """``-c`` options that keep git's fetch where the guard said it may go."""
    address = f"[{target.address}]" if ":" in target.address else target.address
    options = {
        # Only http(s): file:// would read other repositories on this disk, ext:: runs
        # commands.
        "protocol.allow": "never",
        "protocol.http.allow": "always",
        "protocol.https.allow": "always",
        # Connect to the checked address, not a second DNS answer (rebinding).
        "http.curloptResolve": f"{target.host}:{target.port}:{address}",
        # A redirect would send git to an address the guard never saw.
        "http.followRedirects": "false",
        "http.lowSpeedLimit": str(_LOW_SPEED_BYTES),
        "http.lowSpeedTime": str(max(1, int(settings.import_stall_s))),
    }
    return [arg for key, value in options.items() for arg in ("-c", f"{key}={value}")]


def _import_env() -> dict[str, str]:
    # No system or user git config (url.insteadOf could rewrite the URL) and no proxy from
    # the environment (it would fetch from wherever it is, unpinned).
    return {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "NO_PROXY": "*",
            "no_proxy": "*", "http_proxy": "", "https_proxy": "", "HTTPS_PROXY": "",
            "ALL_PROXY": "", "all_proxy": ""}


def _run_clone(cmd: list[str], mirror: Path, settings: Settings) -> tuple[int, str]:
    """Run the clone, killing it past import_timeout or repo_max_bytes on disk."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=git_env(_import_env()), start_new_session=True)
    deadline = time.monotonic() + settings.import_timeout
    reason = ""
    while proc.poll() is None:
        if time.monotonic() > deadline:
            reason = "timeout"
        elif mirror.is_dir() and repo_size(mirror) > settings.repo_max_bytes:
            reason = "size"
        if reason:
            os.killpg(proc.pid, signal.SIGKILL)  # git forks remote-https: kill the group
            break
        time.sleep(_POLL_S)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.wait()
    proc.stderr.close()
    if reason == "size":
        raise _too_large(settings)
    return (_TIMED_OUT if reason else proc.returncode), err


def _too_large(settings: Settings) -> BadRequest:
    return BadRequest(f"the repository is larger than the {settings.repo_max_bytes >> 20} MiB "
                      "a repository may hold on this server")


def _timed_out(settings: Settings) -> BadRequest:
    return BadRequest(
        "timed out: the source did not send the repository in time",
        hint=f"an import may take {settings.import_timeout:g} s and may not stall for "
             f"more than {settings.import_stall_s:g} s",
    )


def import_from_url(settings: Settings, space_id: SpaceId, url: str) -> str:
    """Mirror a public http(s) git repository into an empty Space; returns main's commit.

    When the source has no ``main``, main is created at the source's default branch.
    Raises EgressRefused (one text for every refused or unreachable URL), BadRequest."""
    target = check_url(url, AllowList.parse(settings.egress_allow))
    repo = ensure_repo(settings, space_id)
    if not is_empty(repo):
        raise AlreadyExists(f"Space {space_id} already has commits")
    probe(target, settings.import_connect_timeout)
    with tempfile.TemporaryDirectory(dir=repo.parent, prefix=f".{repo.name}.import.") as tmp:
        mirror = Path(tmp) / "mirror.git"
        cmd = ["git", *_clone_config(target, settings), "clone", "--quiet", "--mirror",
               "--", url, str(mirror)]
        code, err = _run_clone(cmd, mirror, settings)
        if code != 0:
            # git's text names the service that answered: operators get it in the log, the
            # user the generic refusal, or "timed out" (only a source that passed the guard
            # and accepted the connection can get that far, so it reveals nothing inside).
            log.info("import of %s into %s failed (%s): %s", url, space_id, code, err)
            if code == _TIMED_OUT or "too slow" in err.lower():
                raise _timed_out(settings)
            raise EgressRefused()
        source_head = _git(["rev-parse", "--verify", "--quiet", "HEAD"], git_dir=mirror,
                           check=False).stdout.decode().strip()
        if not source_head:
            raise BadRequest("the repository has no commits to import")
        if repo_size(mirror) > settings.repo_max_bytes:
            raise _too_large(settings)
        # Fetch from the mirror into the prepared repository: keeps our config and hooks and
        # drops the source's remote settings (and any credentials in its URL).
        _git(["fetch", "--quiet", "--no-tags", str(mirror), "+refs/heads/*:refs/heads/*",
              "+refs/tags/*:refs/tags/*"], git_dir=repo)
    main = f"refs/heads/{DEFAULT_BRANCH}"
    existing = _git(["rev-parse", "--verify", "--quiet", main], git_dir=repo, check=False)
    if existing.returncode != 0:
        _git(["update-ref", "-m", "import", main, source_head, ZERO_OID], git_dir=repo)
        return source_head
    return existing.stdout.decode().strip()
