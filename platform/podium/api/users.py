"""Accounts and sessions: login/logout/whoami for the dashboard (a signed cookie), user
creation by admins, and public profiles."""

from __future__ import annotations

from fastapi import APIRouter, Response

from podium.errors import Forbidden
from podium.names import validate_owner
from podium.store import authenticate, create_user, get_user, list_spaces

from .auth import clear_session, set_session
from .deps import CurrentUser, OptionalUser, PlatformDep, WritingUser
from .schemas import LoginIn, Me, Ok, UserIn, UserProfile

router = APIRouter(prefix="/api", tags=["users"])


@router.post("/login")
def login(body: LoginIn, response: Response, platform: PlatformDep) -> Me:
    """Check a password and set the dashboard's session cookie."""
    with platform.db.session() as session:
        user = authenticate(session, body.username, body.password)
        me = Me(username=user.username, is_admin=user.is_admin)
        set_session(response, platform, user.id)
    return me


@router.post("/logout")
def logout(response: Response) -> Ok:
    clear_session(response)
    return Ok()


@router.get("/whoami")
def whoami(principal: CurrentUser) -> Me:
    return Me(username=principal.username, is_admin=principal.is_admin)


@router.post("/users", status_code=201)
def add_user(body: UserIn, platform: PlatformDep, principal: WritingUser) -> Me:
    if not principal.is_admin:
        raise Forbidden("only admins create users")
    with platform.db.session() as session:
        user = create_user(session, body.username, body.password, email=body.email,
                           is_admin=body.is_admin)
        return Me(username=user.username, is_admin=user.is_admin)


@router.get("/users/{username}")
def profile(username: str, platform: PlatformDep, principal: OptionalUser) -> UserProfile:
    """Public profile: the Spaces count the caller may see."""
    validate_owner(username)
    admin = principal is not None and principal.is_admin
    with platform.db.session() as session:
        user = get_user(session, username)
        _, total = list_spaces(session, owner=user.username, limit=1, include_private=admin,
                               viewer=principal.username if principal else None)
        return UserProfile(username=user.username, spaces_count=total)
