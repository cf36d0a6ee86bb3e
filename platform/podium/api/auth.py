"""Who is calling: an API token (``Authorization: Bearer pod_…``, or HTTP basic with the
token as password, as git and huggingface_hub send it) or the dashboard's session cookie
(a server-side session in Redis, honoured only for the dashboard's own origin). Both
resolve to a ``Principal``."""

from __future__ import annotations

import base64

from fastapi import Request, Response

from podium.config import Settings
from podium.controller.access import Principal
from podium.controller.platform import Platform
from podium.errors import PodiumError, Unauthorized
from podium.store import User, verify_token

from .origin import session_cookie_allowed
from .sessions import SessionStore

SESSION_COOKIE = "podium_session"


def session_store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def set_session(request: Request, response: Response, user_id: int) -> None:
    settings: Settings = request.app.state.settings
    store = session_store(request)
    response.set_cookie(
        SESSION_COOKIE, store.issue(user_id), max_age=store.ttl_s,
        httponly=True, samesite="lax", secure=settings.scheme == "https",
    )


def end_session(request: Request, response: Response) -> None:
    """Logout: the session dies server-side, so a copy of the cookie is worthless."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session_store(request).revoke(cookie)
    response.delete_cookie(SESSION_COOKIE)


def _token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            _, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or None
    return None


def session_user_id(request: Request, *, page: bool = False) -> int | None:
    """The user of the request's session cookie, when the cookie may be used at all: never
    for requests another origin (a Space) made (``origin.session_cookie_allowed``)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or not session_cookie_allowed(request, request.app.state.settings, page=page):
        return None
    return session_store(request).user_id(cookie)


def principal_from_request(
    platform: Platform, request: Request, *, page: bool = False,
) -> Principal | None:
    """None for anonymous callers; Unauthorized for a token that is wrong, so a client
    with a typo hears about it instead of silently seeing only public data. ``page``: a
    dashboard page rather than the API (see ``session_cookie_allowed``)."""
    token = _token_from(request)
    with platform.db.session() as session:
        if token is not None:
            try:
                user, api_token = verify_token(session, token)
            except PodiumError as exc:
                raise Unauthorized("invalid or revoked API token",
                                   hint="create a new one with `podium token create`") from exc
            return Principal(user.username, user.is_admin, user.id, api_token.allows("write"))
        user_id = session_user_id(request, page=page)
        user = session.get(User, user_id) if user_id is not None else None
        if user is not None and user.disabled_at is None:
            return Principal(user.username, user.is_admin, user.id, True)
    return None
