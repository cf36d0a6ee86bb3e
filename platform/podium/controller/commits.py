"""Commits made through the API (huggingface_hub's upload_file, upload_folder, delete_file,
create_commit): written into the bare repository with git plumbing, then handed to the same
push handler a ``git push`` runs, so they build and deploy exactly like one."""

from __future__ import annotations

from collections.abc import Sequence

from podium.errors import BadRequest
from podium.gitserver.commits import Change, write_commit
from podium.gitserver.git import DEFAULT_BRANCH
from podium.gitserver.repo import repo_size
from podium.names import SpaceId
from podium.plugins import load_callable

from .access import Principal
from .platform import Platform


def _check_size(platform: Platform, space_id: SpaceId, changes: Sequence[Change]) -> None:
    """The push limit (hook.pre_receive), checked before any object is written."""
    settings = platform.settings
    incoming = sum(len(c.data) for c in changes if c.data is not None)
    size = repo_size(space_id.repo_path(settings.repos_dir)) + incoming
    if size > settings.repo_max_bytes:
        raise BadRequest(
            f"the repository would be {size / (1 << 20):.1f} MiB, over this server's limit "
            f"of {settings.repo_max_bytes / (1 << 20):.1f} MiB",
            hint="keep large files outside the Space's repository",
        )


def commit(
    platform: Platform, principal: Principal, space_id: SpaceId, changes: Sequence[Change], *,
    branch: str = DEFAULT_BRANCH, message: str, parent: str | None = None,
) -> tuple[str, list[str]]:
    """Write the commit, then run the push handler for the default branch; returns the new
    sha and the lines a pusher would have seen as ``remote:``."""
    if not changes:
        raise BadRequest("a commit needs at least one file to add or delete")
    _check_size(platform, space_id, changes)
    settings = platform.settings
    ref, old, new = write_commit(settings, space_id, branch, changes,
                                 author=principal.username, message=message, parent=parent)
    if branch != DEFAULT_BRANCH:
        return new, [f"Branch '{branch}' stored; only '{DEFAULT_BRANCH}' is deployed."]
    if not settings.push_handler:
        return new, []
    # The same handler git's post-receive hook loads (gitserver.hook.load_push_handler).
    handler = load_callable(settings.push_handler, "push_handler")
    return new, handler(settings, space_id, ref, old, new, principal.username)
