"""The hooks git runs on a push, as small as a Python process can be (standard library only).

Every push runs two hook processes. When each imported the platform (Settings, the store,
rq, the controller) to do its work in-process, the two cost ~2 s of every push before the
build could start. Now:

- pre-receive checks the repository's size here (an ``os.walk`` over objects/, which
  includes the push's quarantine directory: only this process sees it);
- post-receive hands git's ref updates to the git server that runs the push (the API
  process, where everything is imported already) over loopback, with the ticket that server
  gave this push (``PODIUM_HOOK_TICKET``: an HMAC over the Space and the pusher), and prints
  its answer: those are the pusher's ``remote:`` lines.

A push that does not come through the git server (an admin pushing to the path on disk) has
no ticket, and a server that cannot be reached falls back: ``run`` returns None and the hook
script (``repo.HOOK_ENTRY``) runs the full in-process hook (``podium.gitserver.hook``), so no
push is left without its build.

Tests check that this module imports nothing heavy (``tests/unit/test_gitserver_relay.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

# The route of the git server that runs post-receive for a hook (``gitserver.app``).
HOOK_PATH = "/_podium/git/post-receive"
# What the git server hands its hooks through git, beside the PODIUM_* settings.
SPACE_VAR = "PODIUM_HOOK_SPACE"
PUSHER_VAR = "PODIUM_HOOK_PUSHER"
PYTHON_VAR = "PODIUM_HOOK_PYTHON"
URL_VAR = "PODIUM_HOOK_URL"
TICKET_VAR = "PODIUM_HOOK_TICKET"
# The Settings field pre-receive needs, as Settings.to_env writes it.
MAX_BYTES_VAR = "PODIUM_REPO_MAX_BYTES"
DEFAULT_MAX_BYTES = 1 << 30
# A ticket outlives any push's receive: git runs post-receive right after the pack landed.
TICKET_TTL_S = 3600
# The server's answer waits for the build to be queued (store + Redis): well under this.
RELAY_TIMEOUT_S = 60


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def repo_size(git_dir: Path) -> int:
    """Bytes stored under objects/, including a push's quarantine directory (which git
    places inside objects/ while pre-receive runs)."""
    total = 0
    for root, _dirs, files in os.walk(git_dir / "objects"):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # gc or another push removed it meanwhile
                pass
    return total


def pre_receive(max_bytes: int, git_dir: Path, out: TextIO) -> int:
    size = repo_size(git_dir)
    if size > max_bytes:
        print(
            f"Push rejected: the repository would be {_mib(size)}, over this server's "
            f"limit of {_mib(max_bytes)}.\n"
            "Remove the large files from your commits (git rm --cached, then amend or "
            "rebase) or keep them outside the repository, and push again.",
            file=out,
        )
        return 1
    return 0


# -- tickets: the git server signs one per push; its post-receive route checks it ---------
def _mac(key: bytes, space: str, pusher: str, expires: int) -> str:
    message = f"{space}\n{pusher}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue_ticket(key: bytes, space: str, pusher: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + TICKET_TTL_S)
    return f"{expires}.{_mac(key, space, pusher, expires)}"


def ticket_valid(key: bytes, ticket: str, space: str, pusher: str,
                 now: float | None = None) -> bool:
    expires_text, _, mac = ticket.partition(".")
    if not expires_text.isdigit() or int(expires_text) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac, _mac(key, space, pusher, int(expires_text)))


# -- the hook process ----------------------------------------------------------------------
def relay_post_receive(env: Mapping[str, str], updates: str, out: TextIO) -> bool:
    """Hand the ref updates to the git server; False when it cannot be reached (the
    caller then runs the hook in-process)."""
    url = urlsplit(env[URL_VAR])
    body = json.dumps({
        "space": env.get(SPACE_VAR, ""), "pusher": env.get(PUSHER_VAR, "anonymous"),
        "ticket": env.get(TICKET_VAR, ""), "updates": updates,
    })
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80,
                                      timeout=RELAY_TIMEOUT_S)
    try:
        conn.request("POST", url.path or HOOK_PATH, body=body,
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        text = answer.read().decode(errors="replace")
    except OSError:
        return False
    finally:
        conn.close()
    if answer.status == 404:
        return False  # no such route there (an older server): run the hook here
    if answer.status != 200:
        # The push has landed: say why no deploy, as the in-process hook would.
        print(f"Deploy not started: the git server answered {answer.status}: {text[:300]}",
              file=out)
        return True
    out.write(text)
    return True


def run(argv: list[str]) -> int | None:
    """The hook's exit code, or None when this push is not for the relay (it did not come
    through the git server, or the server cannot be reached): the caller then runs the
    in-process hook (``repo.HOOK_ENTRY``), with stdin as it was."""
    if len(argv) != 1 or argv[0] not in ("pre-receive", "post-receive"):
        print("usage: hook pre-receive|post-receive", file=sys.stderr)
        return 2
    env = os.environ
    if not env.get(URL_VAR) or not env.get(TICKET_VAR):
        return None
    if argv[0] == "pre-receive":
        # Hooks of a bare repository run with the repository as their working directory.
        git_dir = Path(env.get("GIT_DIR", ".")).resolve()
        raw = env.get(MAX_BYTES_VAR, "")
        return pre_receive(int(raw) if raw.isdigit() else DEFAULT_MAX_BYTES, git_dir,
                           sys.stdout)
    updates = sys.stdin.read()
    if relay_post_receive(env, updates, sys.stdout):
        return 0
    sys.stdin = io.StringIO(updates)  # read already: the fallback reads the same lines
    return None
