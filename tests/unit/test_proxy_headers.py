"""Header policy both ways, the grant signer and the proxy's own pages."""

from __future__ import annotations

import json

from starlette.requests import HTTPConnection

from podium.grants import GrantSigner
from podium.names import SpaceId
from podium.proxy import pages
from podium.proxy.access import cookie_values
from podium.proxy.headers import (
    ForwardedFor,
    request_headers,
    response_headers,
    strip_cookies,
    wants_html,
)
from podium.routes import Route, count_live_streams
from podium.spaces.stage import Sdk, Stage

FWD = ForwardedFor("203.0.113.7", "alice-demo.podium.example", "https")


def names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [n for n, _ in headers]


def test_request_headers_drop_hop_by_hop_and_spoofed_forwarding() -> None:
    raw = [
        (b"Host", b"alice-demo.podium.example"), (b"Connection", b"keep-alive, X-Secret"),
        (b"X-Secret", b"1"), (b"Keep-Alive", b"300"), (b"TE", b"trailers"),
        (b"X-Forwarded-For", b"6.6.6.6"), (b"Forwarded", b"for=6.6.6.6"),
        (b"X-Forwarded-Prefix", b"/spaces/alice/demo"),
        (b"Accept", b"*/*"), (b"Cookie", b"podium_session=abc; lang=en; podium_access=t"),
    ]
    out = dict(request_headers(raw, FWD))
    assert out[b"host"] == b"alice-demo.podium.example"
    assert out[b"accept"] == b"*/*" and out[b"cookie"] == b"lang=en"
    # Spaces are served by host only (item 2): no prefix, and a client's claim is dropped.
    for gone in (b"connection", b"x-secret", b"keep-alive", b"te", b"forwarded",
                 b"x-forwarded-prefix"):
        assert gone not in out
    assert out[b"x-forwarded-for"] == b"203.0.113.7"
    assert out[b"x-forwarded-proto"] == b"https"
    assert out[b"x-forwarded-host"] == b"alice-demo.podium.example"


def test_websocket_request_leaves_the_handshake_to_the_client_library() -> None:
    raw = [(b"sec-websocket-key", b"k"), (b"sec-websocket-protocol", b"a, b"),
           (b"upgrade", b"websocket"), (b"origin", b"http://x"), (b"host", b"h")]
    assert names(request_headers(raw, FWD, websocket=True))[:1] == [b"origin"]


def test_authorization_dropped_only_when_consumed() -> None:
    raw = [(b"authorization", b"Bearer t")]
    assert b"authorization" in names(request_headers(raw, FWD))
    assert b"authorization" not in names(request_headers(raw, FWD, drop_authorization=True))


def test_strip_cookies_keeps_only_the_app_cookies() -> None:
    assert strip_cookies(b"podium_session=1") == b""
    assert strip_cookies(b"a=1;podium_access=x;  b=2") == b"a=1; b=2"


def route(**extra: object) -> Route:
    return Route.for_space(SpaceId("alice", "demo"), upstream="http://x:1", sdk=Sdk.GRADIO,
                           stage=Stage.RUNNING, **extra)


def test_response_framing_policy() -> None:
    raw = [(b"x-frame-options", b"SAMEORIGIN"), (b"content-type", b"text/html"),
           (b"transfer-encoding", b"chunked"), (b"content-security-policy", b"default-src *")]
    allowed = response_headers(raw, route())
    assert b"x-frame-options" not in names(allowed) and b"transfer-encoding" not in names(allowed)
    assert (b"content-security-policy", b"default-src *") in allowed
    denied = response_headers(raw, route(disable_embedding=True))
    assert (b"x-frame-options", b"DENY") in denied and (b"x-frame-options",
                                                        b"SAMEORIGIN") not in denied
    assert (b"content-security-policy", b"frame-ancestors 'none'") in denied
    # The API's own answers are passed as they are, except hop-by-hop.
    assert (b"x-frame-options", b"SAMEORIGIN") in response_headers(raw, None)


def test_custom_headers_replace_the_apps() -> None:
    raw = [(b"cross-origin-opener-policy", b"unsafe-none")]
    out = response_headers(raw, route(custom_headers={"Cross-Origin-Opener-Policy": "same-origin",
                                                      "Connection": "close"}))
    assert out == [(b"cross-origin-opener-policy", b"same-origin")]


def test_wants_html() -> None:
    assert wants_html([(b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8")])
    assert not wants_html([(b"accept", b"application/json")])
    assert not wants_html([])


def test_grant_round_trip_and_rejections() -> None:
    signer = GrantSigner(b"k1")
    token = signer.issue("alice/demo", "bob", ttl=60, now=1000)
    grant = signer.verify(token, "alice/demo", now=1030)
    assert grant is not None and grant.subject == "bob"
    assert signer.verify(token, "alice/other", now=1030) is None  # another Space
    assert signer.verify(token, "alice/demo", now=1061) is None  # expired
    assert GrantSigner(b"k2").verify(token, "alice/demo", now=1030) is None  # other key
    body, sig = token.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    assert signer.verify(forged, "alice/demo", now=1030) is None
    assert signer.verify("garbage", "alice/demo") is None


def test_cookie_values_sees_every_path_scoped_copy() -> None:
    conn = HTTPConnection({"type": "http", "headers": [
        (b"cookie", b"podium_access=a; x=1; podium_access=b")]})
    assert cookie_values(conn, "podium_access") == ["a", "b"]


def test_pages_escape_and_shape() -> None:
    page = pages.not_found("<script>x</script>/demo")
    html = page.html()
    assert html.status_code == 404 and b"<script>x" not in html.body
    data = json.loads(page.json().body)
    assert data["error"] == "not_found" and "<script>x</script>/demo" in data["message"]
    waking = pages.waking("alice/demo", "/__podium/status")
    assert waking.html().headers["retry-after"] == "5"
    assert b"/__podium/status" in waking.html().body


def test_stale_proxies_stream_counts_are_ignored() -> None:
    counts = {b"live": b"2", b"dead": b"5", b"gone": b"1", b"neg": b"-1"}
    beats = {"live": 100.0, "dead": 10.0, "neg": 100.0}
    assert count_live_streams(counts, beats, now=105.0) == 2
