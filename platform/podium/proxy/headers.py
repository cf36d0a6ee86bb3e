"""Header policy, both directions. Pure functions over ASGI raw header lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from podium.routes import Route

RawHeaders = list[tuple[bytes, bytes]]

# RFC 9110 7.6.1 connection-specific headers, plus the pre-standard ones still seen.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection",
})
# The proxy is the public edge: what a client claims here is replaced, never trusted.
FORWARDED = frozenset({
    b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto",
    b"x-forwarded-prefix", b"x-forwarded-port", b"x-real-ip",
})
# The websocket client library makes its own handshake.
WEBSOCKET_HANDSHAKE = frozenset({
    b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
    b"sec-websocket-protocol", b"host",
})
# Podium's own credentials never reach user code: a Space's server would otherwise see
# every visitor's dashboard session and access grants.
PODIUM_COOKIES = ("podium_session", "podium_access")


@dataclass(frozen=True, slots=True)
class ForwardedFor:
    client_ip: str
    host: str  # the Host the client used
    proto: str


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return tokens


def strip_cookies(value: bytes, names: Iterable[str] = PODIUM_COOKIES) -> bytes:
    """A Cookie header value without the named cookies (b"" when none is left)."""
    drop = {n.encode() for n in names}
    kept = [
        part.strip() for part in value.split(b";")
        if part.strip() and part.strip().split(b"=", 1)[0].strip() not in drop
    ]
    return b"; ".join(kept)


def request_headers(
    raw: Iterable[tuple[bytes, bytes]], fwd: ForwardedFor, *, websocket: bool = False,
    drop_authorization: bool = False, keep_podium_cookies: bool = False,
) -> RawHeaders:
    """Headers to send upstream: hop-by-hop and spoofable forwarding headers dropped,
    Podium cookies removed, X-Forwarded-* set. Host is kept: apps (Streamlit's websocket
    origin check, Gradio without X-Forwarded-Host) compare it with Origin."""
    raw = list(raw)
    drop = HOP_BY_HOP | FORWARDED | _connection_tokens(raw)
    if websocket:
        drop = drop | WEBSOCKET_HANDSHAKE
    if drop_authorization:
        drop = drop | {b"authorization"}
    out: RawHeaders = []
    for name, value in raw:
        lname = name.lower()
        if lname in drop:
            continue
        if lname == b"cookie" and not keep_podium_cookies:
            value = strip_cookies(value)
            if not value:
                continue
        out.append((lname, value))
    out += [
        (b"x-forwarded-for", fwd.client_ip.encode()),
        (b"x-forwarded-host", fwd.host.encode("latin-1")),
        (b"x-forwarded-proto", fwd.proto.encode()),
    ]
    return out


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    """What ``response_headers`` does for one route: the headers dropped and added."""

    drop: frozenset[bytes]
    extra: tuple[tuple[bytes, bytes], ...]

    @classmethod
    def for_route(cls, route: Route | None) -> ResponsePolicy:
        if route is None:
            return cls(HOP_BY_HOP, ())
        custom = {k.lower().encode("latin-1"): v for k, v in route.custom_headers.items()}
        extra: list[tuple[bytes, bytes]] = []
        if route.disable_embedding:
            extra += [
                (b"x-frame-options", b"DENY"),
                (b"content-security-policy", b"frame-ancestors 'none'"),
            ]
        extra += [(name, value.encode("latin-1")) for name, value in custom.items()
                  if name not in HOP_BY_HOP]
        return cls(HOP_BY_HOP | {b"x-frame-options"} | set(custom), tuple(extra))

    def apply(self, raw: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
        raw = list(raw)
        tokens = _connection_tokens(raw)
        drop = self.drop | tokens if tokens else self.drop
        out: RawHeaders = [(n, v) for n, v in raw if n.lower() not in drop]
        out += self.extra
        return out


def response_headers(raw: Iterable[tuple[bytes, bytes]], route: Route | None) -> RawHeaders:
    """Headers to send to the client: hop-by-hop dropped; for a Space, its framing policy
    and custom headers applied.

    Framing: ``disable_embedding`` forbids every frame (X-Frame-Options DENY and CSP
    frame-ancestors 'none'). Otherwise the app's X-Frame-Options is dropped: it is usually a
    framework default rather than a decision, and it cannot name the dashboard's origin, so it
    would break the dashboard's iframe; the Space's README is the one place that decides.
    An app's own CSP is left alone (it can name origins precisely).
    """
    return ResponsePolicy.for_route(route).apply(raw)


def header(raw: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in raw:
        if key.lower() == name:
            return value
    return None


def wants_html(raw: Iterable[tuple[bytes, bytes]]) -> bool:
    """A browser navigation (gets pages) rather than an API client (gets JSON or waits)."""
    accept = header(raw, b"accept") or b""
    return b"text/html" in accept
