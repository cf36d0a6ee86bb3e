"""A Space's files at a commit (the dashboard's Files view), read from its bare repository."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from podium.controller.platform import Platform
from podium.gitserver.repo import head_commit, read_file, read_tree
from podium.store.models import Space

from .deps import PlatformDep, ReadableSpace
from .schemas import TreeItem

router = APIRouter(prefix="/api/spaces/{owner}/{name}", tags=["files"])
KINDS = {"blob": "file", "tree": "directory", "commit": "submodule"}
CommitQuery = Annotated[str | None, Query(max_length=200)]


def _commit(platform: Platform, space: Space, commit: str | None) -> str | None:
    return commit or head_commit(platform.settings, space.space_id)


@router.get("/tree")
def tree(space: ReadableSpace, platform: PlatformDep, commit: CommitQuery = None
         ) -> list[TreeItem]:
    """Every file of the commit (default: the head of main); [] for an empty Space."""
    sha = _commit(platform, space, commit)
    if sha is None:
        return []
    return [TreeItem(path=e.path, type=KINDS.get(e.type, "file"), size=e.size)  # type: ignore[arg-type]
            for e in read_tree(platform.settings, space.space_id, sha)]


@router.get("/file", response_class=Response,
            responses={200: {"content": {"text/plain": {}, "application/octet-stream": {}}}})
def file(
    space: ReadableSpace, platform: PlatformDep,
    path: Annotated[str, Query(min_length=1, max_length=4096)], commit: CommitQuery = None,
) -> Response:
    """The raw bytes; text/plain for UTF-8 text. Never served as HTML: the file is the
    Space author's, the origin is Podium's."""
    sha = _commit(platform, space, commit) or "HEAD"
    data = read_file(platform.settings, space.space_id, sha, path)
    try:
        data.decode("utf-8")
        media = "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        media = "application/octet-stream"
    return Response(data, media_type=media, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })
