"""Accounts and sessions: login/logout/whoami for the dashboard (a server-side session),
password change, user creation and disabling by admins, and public profiles."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from podium.controller.access import visible_spaces
from podium.errors import Forbidden, Unauthorized
from podium.names import validate_owner
from podium.store import (
    User,
    authenticate,
    create_user,
    get_user,
    set_disabled,
    set_password,
)
from podium.throttle import PasswordThrottle

from .auth import end_session, session_store, set_session
from .deps import CurrentUser, OptionalUser, PlatformDep, WritingUser
from .schemas import LoginIn, Me, Ok, PasswordIn, UserAdminView, UserIn, UserPatch, UserProfile

router = APIRouter(prefix="/api", tags=["users"])


def client_address(request: Request) -> str:
    # uvicorn puts the proxy's X-Forwarded-For here when the proxy is a trusted peer.
    return request.client.host if request.client else "unknown"


def check_password(request: Request, platform: PlatformDep, username: str,
                   password: str) -> int:
    """The user id if the password is right; every wrong one counts against the account
    and the caller's address (``PasswordThrottle``), checked before the hash is."""
    throttle: PasswordThrottle = request.app.state.throttle
    address = client_address(request)
    throttle.check(username, address)
    with platform.db.session() as session:
        try:
            return authenticate(session, username, password).id
        except Unauthorized:
            throttle.failed(username, address)
            raise


@router.post("/login")
def login(body: LoginIn, request: Request, response: Response, platform: PlatformDep) -> Me:
    """Check a password and set the dashboard's session cookie."""
    user_id = check_password(request, platform, body.username, body.password)
    with platform.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        me = Me(username=user.username, is_admin=user.is_admin)
    set_session(request, response, user_id)
    return me


@router.post("/logout")
def logout(request: Request, response: Response) -> Ok:
    end_session(request, response)
    return Ok()


@router.post("/password")
def change_password(body: PasswordIn, request: Request, response: Response,
                    platform: PlatformDep, principal: WritingUser) -> Ok:
    """Every session of the account ends (a thief's too); this browser gets a new one."""
    user_id = check_password(request, platform, principal.username, body.current_password)
    with platform.db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        set_password(session, user, body.new_password)
    session_store(request).revoke_user(user_id)
    set_session(request, response, user_id)
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


@router.patch("/users/{username}")
def change_user(username: str, body: UserPatch, request: Request, platform: PlatformDep,
                principal: WritingUser) -> UserAdminView:
    """Disable or enable an account. Disabling ends its sessions at once; its tokens are
    refused while it stays disabled."""
    if not principal.is_admin:
        raise Forbidden("only admins disable or enable users")
    validate_owner(username)
    with platform.db.session() as session:
        user = get_user(session, username)
        if user.id == principal.user_id and body.disabled:
            raise Forbidden("you cannot disable your own account",
                            hint="ask another admin")
        set_disabled(session, user, body.disabled)
        view = UserAdminView(username=user.username, is_admin=user.is_admin,
                             disabled=user.disabled_at is not None)
        user_id = user.id
    if body.disabled:
        session_store(request).revoke_user(user_id)
    return view


@router.get("/users/{username}")
def profile(username: str, platform: PlatformDep, principal: OptionalUser) -> UserProfile:
    """Public profile: the Spaces count the caller may see."""
    validate_owner(username)
    with platform.db.session() as session:
        user = get_user(session, username)
        _, total = visible_spaces(session, principal, owner=user.username, limit=1)
        return UserProfile(username=user.username, spaces_count=total)
