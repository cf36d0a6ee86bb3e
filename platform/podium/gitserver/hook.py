"""The pre-receive and post-receive hooks' logic. A push through the git server runs
post-receive here in the server's own process (``gitserver.app``, called by the hook process
``relay.py``); a push that did not come through the server (an admin pushing to the path on
disk), or a server that cannot be reached, runs ``main`` below in the hook process.

Hooks are grandchildren of the server (server -> git http-backend -> receive-pack -> hook),
so everything they need travels in the environment: the server's Settings as PODIUM_*
variables (``Settings.to_env``), the Space and the pusher as PODIUM_HOOK_*. Whatever a hook
prints reaches the pusher as ``remote:`` lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from podium.config import Settings
from podium.errors import PodiumError
from podium.names import SpaceId
from podium.plugins import load_callable

from . import relay
from .git import ZERO_OID, run_git
from .repo import PUSHER_VAR, SPACE_VAR

PushHandler = Callable[[Settings, SpaceId, str, str, str, str], list[str]]


def load_push_handler(dotted: str) -> PushHandler:
    return load_callable(dotted, "push_handler")


def _updates(stdin: TextIO) -> Iterator[tuple[str, str, str]]:
    for line in stdin:
        parts = line.split()
        if len(parts) == 3:
            old, new, ref = parts
            yield old, new, ref


def pre_receive(settings: Settings, git_dir: Path, out: TextIO) -> int:
    return relay.pre_receive(settings.repo_max_bytes, git_dir, out)


def _default_ref(git_dir: Path) -> str:
    proc = run_git(["symbolic-ref", "-q", "HEAD"], git_dir=git_dir, check=False)
    return proc.stdout.decode().strip() or "refs/heads/main"


def post_receive(
    settings: Settings, git_dir: Path, stdin: TextIO, out: TextIO, space: str, pusher: str,
) -> int:
    default_ref = _default_ref(git_dir)
    handler = load_push_handler(settings.push_handler) if settings.push_handler else None
    for old, new, ref in _updates(stdin):
        if ref != default_ref:
            if ref.startswith("refs/heads/") and new != ZERO_OID:
                branch = ref.removeprefix("refs/heads/")
                main = default_ref.removeprefix("refs/heads/")
                print(f"Branch '{branch}' stored; only '{main}' is deployed.", file=out)
            continue
        if new == ZERO_OID:
            print("The default branch was deleted; the running app is left as it is.", file=out)
            continue
        if handler is None or not space:
            continue
        try:
            lines = handler(settings, SpaceId.parse(space), ref, old, new, pusher)
        except PodiumError as exc:
            lines = [f"Deploy not started: {exc.message}"]
            if exc.hint:
                lines.append(f"hint: {exc.hint}")
        except Exception as exc:  # noqa: BLE001 - the push already succeeded; say why no deploy
            lines = [f"Deploy not started: internal error ({type(exc).__name__}: {exc})"]
        for line in lines:
            print(line, file=out)
    _lfs_gc(git_dir)
    return 0


def _lfs_gc(git_dir: Path) -> None:
    """Drop the LFS objects this push left unreferenced (a force-push, a deleted branch).
    Never fails the push, which has landed already."""
    from .lfsstore import LfsStore  # only pushes to repositories with LFS objects pay

    store = LfsStore(git_dir)
    if not (store.root / "objects").is_dir():
        return
    try:
        store.gc(git_dir)
    except Exception as exc:  # noqa: BLE001 - a failed gc keeps objects, which is safe
        print(f"(LFS cleanup skipped: {exc})", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("pre-receive", "post-receive"):
        print("usage: hook pre-receive|post-receive", file=sys.stderr)
        return 2
    settings = Settings()
    # Hooks of a bare repository run with the repository as their working directory.
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    try:
        if argv[0] == "pre-receive":
            return pre_receive(settings, git_dir, sys.stdout)
        return post_receive(
            settings, git_dir, sys.stdin, sys.stdout,
            os.environ.get(SPACE_VAR, ""), os.environ.get(PUSHER_VAR, "anonymous"),
        )
    except PodiumError as exc:
        print(f"error: {exc.message}", file=sys.stdout)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
