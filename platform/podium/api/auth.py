"""Who is calling: an API token (``Authorization: Bearer pod_…``, or HTTP basic with the
token as password, as git and huggingface_hub send it) or the dashboard's signed session
cookie. Both resolve to a ``Principal``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from fastapi import Request, Response

from podium.controller.access import Principal
from podium.controller.platform import Platform
from podium.errors import PodiumError, Unauthorized
from podium.store import User, verify_token

SESSION_COOKIE = "podium_session"
SESSION_TTL_S = 14 * 24 * 3600


class SessionSigner:
    """``user_id.expiry.mac`` cookies: checked by one HMAC, no session table."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, user_id: int, ttl_s: int = SESSION_TTL_S) -> str:
        payload = f"{user_id}.{int(time.time()) + ttl_s}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, cookie: str) -> int | None:
        try:
            user_id, expiry, mac = cookie.split(".")
            payload = f"{user_id}.{expiry}"
            if not hmac.compare_digest(mac, self._mac(payload)) or int(expiry) < time.time():
                return None
            return int(user_id)
        except ValueError:
            return None


def session_signer(platform: Platform) -> SessionSigner:
    return SessionSigner(platform.cipher.derive_key("session"))


def set_session(response: Response, platform: Platform, user_id: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, session_signer(platform).issue(user_id), max_age=SESSION_TTL_S,
        httponly=True, samesite="lax", secure=platform.settings.scheme == "https",
    )


def clear_session(response: Response) -> None:
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


def principal_from_request(platform: Platform, request: Request) -> Principal | None:
    """None for anonymous callers; Unauthorized for a token that is wrong, so a client
    with a typo hears about it instead of silently seeing only public data."""
    token = _token_from(request)
    with platform.db.session() as session:
        if token is not None:
            try:
                user, api_token = verify_token(session, token)
            except PodiumError as exc:
                raise Unauthorized("invalid or revoked API token",
                                   hint="create a new one with `podium token create`") from exc
            return Principal(user.username, user.is_admin, user.id, api_token.allows("write"))
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            user_id = session_signer(platform).verify(cookie)
            user = session.get(User, user_id) if user_id is not None else None
            if user is not None:
                return Principal(user.username, user.is_admin, user.id, True)
    return None
