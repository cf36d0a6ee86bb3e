"""What only the fast path (podium.proxy.fastpath) has to get right, against real servers on
loopback: pipelining with a handover in the middle, pooled connections the app closed,
upstreams that end a body by closing, slow readers, clients that leave mid-stream. The
behaviour it shares with the ASGI pipeline is tested for both in test_proxy.py."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httptools
import httpx
import pytest
import redis
import redis.asyncio as aioredis

from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.fastpath import PROTOCOL
from podium.proxy.testing import ServerThread, digest_of, free_port, settles, upstream_app
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage

pytestmark = pytest.mark.redis

DOMAIN = "podium.test"
SPACE = SpaceId("Carol", "Fast")


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(upstream_app()) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    from podium.proxy.app import create_proxy_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("fast"), domain=DOMAIN,
                        api_port=free_port(), secret_key="test-key")
    app = create_proxy_app(settings, aioredis.Redis.from_url(redis_url), cache_seconds=0)
    with ServerThread(app, http=PROTOCOL) as server:
        yield server


@pytest.fixture
def table(redis_conn: redis.Redis) -> RouteTable:
    return RouteTable(redis_conn)


def route_to(table: RouteTable, upstream: str) -> None:
    table.put(Route.for_space(SPACE, upstream=upstream, sdk=Sdk.DOCKER, stage=Stage.RUNNING))


def host(proxy: ServerThread) -> str:
    return f"{SPACE.hostname(DOMAIN)}:{proxy.port}"



class Responses:
    """httptools callbacks collecting every response on one connection."""

    def __init__(self) -> None:
        self.done: list[tuple[int, dict[bytes, bytes], bytes]] = []
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.headers, self.body = {}, b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), self.headers, self.body))


def exchange(port: int, data: bytes, responses: int) -> Responses:
    got = Responses()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        while len(got.done) < responses:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got.parser.feed_data(chunk)
    return got


def test_plain_gets_reuse_one_upstream_connection(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    route_to(table, upstream.url)
    pool = proxy.server.config.loaded_app.pool  # type: ignore[attr-defined]
    with httpx.Client(base_url=proxy.url, headers={"host": host(proxy)}) as client:
        paths = [client.get(f"/n{i}").json()["path"] for i in range(20)]
    assert paths == [f"/n{i}" for i in range(20)]
    # Served by the fast path (the ASGI path never fills this pool), one kept-alive link.
    assert pool.idle_count() == 1


def test_pipelined_requests_in_order_across_a_handover(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    route_to(table, upstream.url)
    h = host(proxy).encode()
    body = b"x" * 5000
    data = (
        b"GET /one HTTP/1.1\r\nHost: " + h + b"\r\n\r\n"
        b"GET /two?q=2 HTTP/1.1\r\nHost: " + h + b"\r\n\r\n"
        # A body: from here on the connection belongs to the ASGI pipeline.
        b"POST /upload HTTP/1.1\r\nHost: " + h + b"\r\nContent-Length: 5000\r\n\r\n" + body +
        b"GET /three HTTP/1.1\r\nHost: " + h + b"\r\nConnection: close\r\n\r\n"
    )
    got = exchange(proxy.port, data, 4)
    assert [status for status, _, _ in got.done] == [200, 200, 200, 200]
    answers = [json.loads(b) for _, _, b in got.done]
    assert [answers[i]["path"] for i in (0, 1, 3)] == ["/one", "/two", "/three"]
    assert answers[1]["query"] == "q=2"
    assert answers[2] == {"size": 5000, "sha256": hashlib.sha256(body).hexdigest()}


def test_head_is_answered_without_a_body(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    route_to(table, upstream.url)
    raw = b""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"HEAD /kb HTTP/1.1\r\nHost: " + host(proxy).encode() +
                     b"\r\nConnection: close\r\n\r\n")
        while data := sock.recv(65536):
            raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 1024" in head.lower()
    assert rest == b""


class RawUpstream:
    """A hand-written HTTP/1.1 server for upstream behaviour uvicorn never shows: answering
    the n-th request on a connection with ``answer(n)`` (None: close without answering)."""

    def __init__(self, answer: Callable[[int], bytes | None]) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            buf, n = b"", 0
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf.split(b"\r\n\r\n", 1)[1]
                n += 1
                out = self.answer(n)
                if out is None:
                    return
                conn.sendall(out)
                if b"connection: close" in out.lower():
                    return

    def close(self) -> None:
        self.sock.close()


def test_pooled_connection_closed_by_the_app_is_retried(
    proxy: ServerThread, table: RouteTable
) -> None:
    # Each connection answers once, then drops the next request unanswered: the race of an
    # app closing an idle kept-alive connection just as the proxy reuses it.
    raw = RawUpstream(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" if n == 1
                      else None)
    try:
        route_to(table, raw.url)
        with httpx.Client(base_url=proxy.url, headers={"host": host(proxy)}) as client:
            answers = [client.get("/").text for _ in range(3)]
        assert answers == ["ok", "ok", "ok"]
        # Retried by the fast path itself on a new connection, now idle in its pool (a
        # handover to the ASGI path would have answered too, from aiohttp's pool).
        assert raw.accepted == 3
        pool = proxy.server.config.loaded_app.pool  # type: ignore[attr-defined]
        assert pool.idle_count(("127.0.0.1", raw.port)) == 1
    finally:
        raw.close()


def test_body_ended_by_close_reaches_the_client_whole(
    proxy: ServerThread, table: RouteTable
) -> None:
    body = b"".join(b"line %d\n" % i for i in range(2000))
    raw = RawUpstream(lambda n: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
    try:
        route_to(table, raw.url)
        with httpx.Client(base_url=proxy.url, headers={"host": host(proxy)}) as client:
            first = client.get("/")
            second = client.get("/")  # the client connection stays usable
        assert first.content == body and second.content == body
        assert first.headers["transfer-encoding"] == "chunked"
        assert settles(lambda: table.open_streams(SPACE.key) == 0)
    finally:
        raw.close()


def test_slow_reader_gets_every_byte(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    # The reader waits before reading: the proxy must pause the upstream (back-pressure)
    # and resume it, losing nothing.
    route_to(table, upstream.url)
    size = 8 * 1024 * 1024
    digest, got = hashlib.sha256(), 0
    with httpx.stream("GET", f"{proxy.url}/big?size={size}", headers={"host": host(proxy)},
                      timeout=30) as resp:
        time.sleep(0.5)
        for block in resp.iter_raw():
            digest.update(block)
            got += len(block)
    assert (got, digest.hexdigest()) == (size, digest_of(size))


def test_client_leaving_mid_stream_ends_it(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    route_to(table, upstream.url)
    opened = -1
    with httpx.stream("GET", f"{proxy.url}/sse?n=1000&interval=0.05",
                      headers={"host": host(proxy)}, timeout=30) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:"):
                # Read here: leaving the loop closes the response (and the connection).
                opened = table.open_streams(SPACE.key)
                break
    assert opened == 1
    assert settles(lambda: table.open_streams(SPACE.key) == 0)
