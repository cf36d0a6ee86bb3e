"""Who may open a private Space, decided in the proxy without a database round trip.

The API (which has the store) decides once — a share-link visit, a logged-in member of the
Space — and hands the browser a *grant* (podium.grants): a short HMAC-signed token naming
the Space, the subject and an expiry. The proxy's ``/__podium/grant?token=…`` endpoint
turns it into an HttpOnly cookie on that Space's own host, and every later request is
checked by recomputing one HMAC. API clients may send the same token as ``Authorization: Bearer``.
Revocation is by expiry (keep grants short) or by rotating the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection
from starlette.responses import Response

from podium.grants import SHARE_SUBJECT, GrantSigner
from podium.routes import Route

COOKIE = "podium_access"
Revoked = Callable[[str, str], Awaitable[bool]]


def cookie_values(conn: HTTPConnection, name: str) -> list[str]:
    """Every value of cookie ``name``: path-scoped cookies of several Spaces share a name."""
    out = []
    for header in conn.headers.getlist("cookie"):
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and value:
                out.append(value)
    return out


def bearer(conn: HTTPConnection) -> str | None:
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class AccessPolicy:
    """Decides whether a request may reach a Space. Subclass to plug in other checks (e.g.
    a dashboard session looked up through the API). Return True to let it through, False
    for the proxy's standard 'private Space' answer, or a Response to send instead."""

    # Drop Authorization before forwarding when it carried a Podium credential.
    consumes_bearer = True

    async def authorize(self, conn: HTTPConnection, route: Route) -> bool | Response:
        return not route.private



class GrantPolicy(AccessPolicy):
    """The default: public Spaces are open; private ones need a valid grant (cookie or
    Bearer) for that Space."""

    def __init__(self, signer: GrantSigner, revoked: Revoked | None = None) -> None:
        self.signer = signer
        self.revoked = revoked

    async def authorize(self, conn: HTTPConnection, route: Route) -> bool | Response:
        if not route.private:
            return True
        tokens = cookie_values(conn, COOKIE)
        token = bearer(conn)
        if token:
            tokens.append(token)
        for candidate in tokens:
            grant = self.signer.verify(candidate, route.space_key)
            if grant is None:
                continue
            # Only share-link grants are revocable before they expire; checking them costs
            # one Redis round trip, and only private Spaces pay it.
            if (self.revoked is not None and grant.subject.startswith(SHARE_SUBJECT)
                    and await self.revoked(route.space_key, grant.subject)):
                continue
            return True
        return False
