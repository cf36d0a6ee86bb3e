"""FastAPI dependencies: the process's Platform, the caller, and permission checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from podium.controller.access import Principal, may_read, may_write
from podium.controller.platform import Platform
from podium.errors import Forbidden, RepoNotFound, Unauthorized
from podium.names import SpaceId
from podium.store import find_space
from podium.store.models import Space

from .auth import principal_from_request


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def optional_principal(request: Request, platform: PlatformDep) -> Principal | None:
    return principal_from_request(platform, request)


def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized(
            "sign in or send an API token",
            hint="Authorization: Bearer <token> (create one with `podium token create`)",
        )
    return principal


def require_writer(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    """A caller allowed to change things: a session, or a write-scoped token. A read token
    must not mint itself a write token or create Spaces."""
    if not principal.can_write_scope:
        raise Forbidden("this API token is read-only",
                        hint="create a write token with `podium token create NAME --scope write`")
    return principal


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(require_principal)]
WritingUser = Annotated[Principal, Depends(require_writer)]


def readable_space(platform: Platform, principal: Principal | None, space_id: SpaceId) -> Space:
    """The Space if the caller may see it. A private Space someone may not see is a 404, as
    on Spaces, so its existence does not leak."""
    with platform.db.session() as session:
        space = find_space(session, space_id)
    if space is None or not may_read(principal, space):
        raise RepoNotFound(f"Space {space_id} not found")
    return space


def writable_space(platform: Platform, principal: Principal | None, space_id: SpaceId) -> Space:
    space = readable_space(platform, principal, space_id)
    if principal is None:
        raise Unauthorized(f"sign in to change {space_id}")
    if not may_write(principal, space.owner):
        raise Forbidden(f"only the owner of {space_id} (or an admin) can change it",
                        hint="a read-scoped token cannot change anything"
                        if principal.username.lower() == space.owner.lower() else None)
    return space


def path_space_id(owner: str, name: str) -> SpaceId:
    """The Space named by the ``{owner}/{name}`` of a route's path."""
    return SpaceId(owner, name)


SpaceIdDep = Annotated[SpaceId, Depends(path_space_id)]


def _readable(platform: PlatformDep, principal: OptionalUser, space_id: SpaceIdDep) -> Space:
    return readable_space(platform, principal, space_id)


def _writable(platform: PlatformDep, principal: OptionalUser, space_id: SpaceIdDep) -> Space:
    return writable_space(platform, principal, space_id)


ReadableSpace = Annotated[Space, Depends(_readable)]
WritableSpace = Annotated[Space, Depends(_writable)]
