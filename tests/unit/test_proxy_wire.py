"""The fast path's HTTP/1.1 reader and writers: it takes only heads every parser reads the
same way and hands everything else to uvicorn."""

from __future__ import annotations

import httptools
import pytest

from podium.proxy.fastplan import upstream_address
from podium.proxy.wire import (
    HANDOVER,
    LAST_CHUNK,
    MAX_HEAD,
    RequestHead,
    chunk,
    read_request_head,
    request_bytes,
    response_head,
)

GET = b"GET /a/b%20c?x=1 HTTP/1.1\r\nHost: alice-demo.podium.test:8080\r\nAccept: */*\r\n\r\n"


def test_plain_get_is_read_with_its_size() -> None:
    head = read_request_head(GET + b"GET /next HTTP/1.1\r\n")
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.host) == (
        b"GET", b"/a/b%20c?x=1", b"alice-demo.podium.test:8080")
    assert head.headers == [(b"host", b"alice-demo.podium.test:8080"), (b"accept", b"*/*")]
    assert head.size == len(GET) and head.keep_alive


def test_incomplete_head_waits() -> None:
    assert read_request_head(GET[:-2]) is None
    assert read_request_head(b"") is None


def test_connection_close_and_empty_body_are_fast() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    head = read_request_head(raw)
    assert isinstance(head, RequestHead) and not head.keep_alive


@pytest.mark.parametrize("raw", [
    b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",  # a body-less answer the parser cannot know of
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
    b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",  # absolute form
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n",  # smuggling shape
    b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n",  # obs-fold
    b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\nHost: h\n\n",  # bare LF
    b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * MAX_HEAD,  # no end in sight
])
def test_anything_unusual_is_handed_over(raw: bytes) -> None:
    assert read_request_head(raw) == HANDOVER


def test_written_request_and_response_parse_back() -> None:
    req = request_bytes(b"GET", b"/p?q=1", [(b"host", b"h"), (b"x-forwarded-for", b"1.2.3.4")])
    seen: dict[str, object] = {"headers": []}

    class Callbacks:
        def on_url(self, url: bytes) -> None:
            seen["url"] = url

        def on_header(self, name: bytes, value: bytes) -> None:
            seen["headers"].append((name, value))  # type: ignore[attr-defined]

        def on_body(self, body: bytes) -> None:
            seen["body"] = seen.get("body", b"") + body  # type: ignore[operator]

        def on_message_complete(self) -> None:
            seen["complete"] = True

    httptools.HttpRequestParser(Callbacks()).feed_data(req)
    assert seen["url"] == b"/p?q=1" and seen["complete"]
    assert seen["headers"] == [(b"host", b"h"), (b"x-forwarded-for", b"1.2.3.4")]

    seen.update(headers=[], complete=False)
    resp = response_head(200, [(b"transfer-encoding", b"chunked")]) + chunk(b"hello") + LAST_CHUNK
    parser = httptools.HttpResponseParser(Callbacks())
    parser.feed_data(resp)
    assert parser.get_status_code() == 200 and seen["body"] == b"hello" and seen["complete"]
    assert response_head(599, []).startswith(b"HTTP/1.1 599 ")


@pytest.mark.parametrize("url, address", [
    ("http://172.18.0.5:7860", ("172.18.0.5", 7860)),
    ("http://space-a/", ("space-a", 80)),
    ("https://172.18.0.5:7860", None),
    ("", None),
])
def test_upstream_address(url: str, address: tuple[str, int] | None) -> None:
    assert upstream_address(url) == address
