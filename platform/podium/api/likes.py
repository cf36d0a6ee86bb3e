"""Likes in the Hub's routes, as huggingface_hub calls them: POST/DELETE
``/api/spaces/{owner}/{name}/like`` (``HfApi.unlike`` sends the DELETE), ``GET
/api/users/{user}/likes`` (``list_liked_repos``), ``GET /api/spaces/{owner}/{name}/likers``
(``list_repo_likers``). A like needs a signed-in user (a session or a write token); lists
show only Spaces the caller may see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from podium.controller.access import may_read
from podium.names import validate_owner
from podium.store import get_space, get_user, liked_spaces, likers, set_like

from .deps import OptionalUser, PlatformDep, ReadableSpace, WritingUser

router = APIRouter(prefix="/api", tags=["likes"])


def _toggle(platform: Any, principal: Any, space: Any, liked: bool) -> dict[str, Any]:
    with platform.db.session() as session:
        user = get_user(session, principal.username)
        row = get_space(session, space.space_id)
        count = set_like(session, user, row, liked)
    return {"liked": liked, "likes": count}


@router.post("/spaces/{owner}/{name}/like")
def like(space: ReadableSpace, platform: PlatformDep, principal: WritingUser) -> dict[str, Any]:
    return _toggle(platform, principal, space, True)


@router.delete("/spaces/{owner}/{name}/like")
def unlike(space: ReadableSpace, platform: PlatformDep,
           principal: WritingUser) -> dict[str, Any]:
    return _toggle(platform, principal, space, False)


@router.get("/spaces/{owner}/{name}/likers")
def space_likers(space: ReadableSpace, platform: PlatformDep) -> list[dict[str, Any]]:
    with platform.db.session() as session:
        users = likers(session, get_space(session, space.space_id))
        return [{"user": u.username, "fullname": u.username, "avatarUrl": "",
                 "type": "user"} for u in users]


@router.get("/users/{username}/likes")
def user_likes(username: str, platform: PlatformDep,
               principal: OptionalUser) -> list[dict[str, Any]]:
    validate_owner(username)
    with platform.db.session() as session:
        rows = liked_spaces(session, get_user(session, username))
        return [{"createdAt": at.isoformat().replace("+00:00", "Z"),
                 "repo": {"name": str(space.space_id), "type": "space"}}
                for space, at in rows if may_read(principal, space)]
