"""The proxy against real servers on loopback: a real Starlette upstream (HTTP, 20 MB
streams, SSE, websocket echo), a stand-in API process, and the route table in a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from podium.config import Settings
from podium.grants import GrantSigner
from podium.names import SpaceId
from podium.proxy.app import create_proxy_app
from podium.proxy.testing import ServerThread, blocks, digest_of, free_port, settles, upstream_app
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage

pytestmark = pytest.mark.redis

DOMAIN = "podium.test"
SPACE = SpaceId("Alice", "Demo")
BIG = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(upstream_app()) as server:
        yield server


@pytest.fixture(scope="module")
def api() -> Iterator[ServerThread]:
    # Stands in for the API process: any real server that shows what reached it.
    with ServerThread(upstream_app()) as server:
        yield server


@pytest.fixture(scope="module")
def proxy_settings(
    tmp_path_factory: pytest.TempPathFactory, api: ServerThread
) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("proxy"), domain=DOMAIN, api_port=api.port,
        public_port=free_port(), wake_wait_timeout=15, secret_key="test-key",
    )


@pytest.fixture(scope="module")
def server_options() -> dict[str, object]:
    """uvicorn's own options, as the Python plane serves the proxy app."""
    return {}


@pytest.fixture(scope="module")
def proxy(
    redis_url: str, proxy_settings: Settings, server_options: dict[str, object]
) -> Iterator[ServerThread]:
    # No route cache: tests rewrite the route table between requests.
    app = create_proxy_app(proxy_settings, aioredis.Redis.from_url(redis_url), cache_seconds=0)
    with ServerThread(app, port=free_port(), **server_options) as server:
        yield server


@pytest.fixture
def table(redis_conn: redis.Redis) -> RouteTable:
    return RouteTable(redis_conn)


def put(table: RouteTable, upstream: str | None, stage: Stage = Stage.RUNNING,
        sdk: Sdk = Sdk.GRADIO, **extra: object) -> Route:
    route = Route.for_space(SPACE, upstream=upstream, sdk=sdk, stage=stage, **extra)
    table.put(route)
    return route



def host(proxy: ServerThread) -> str:
    return f"{SPACE.hostname(DOMAIN)}:{proxy.port}"


def get(proxy: ServerThread, path: str, **kw: object) -> httpx.Response:
    """GET ``path`` on the Space's host: the only origin a Space is served on."""
    headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
    headers["host"] = host(proxy)
    return httpx.get(proxy.url + path, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def test_forwarded_headers_and_path(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    put(table, upstream.url, custom_headers={"Cross-Origin-Opener-Policy": "same-origin"})
    resp = get(proxy, "/some/p%20ath?x=1",
               headers={"x-forwarded-for": "6.6.6.6", "cookie": "podium_session=s; a=b",
                        "x-forwarded-prefix": "/spaces/Alice/Demo"})
    assert resp.status_code == 200
    seen = resp.json()
    assert seen["raw_path"] == "/some/p%20ath" and seen["query"] == "x=1"
    fwd = seen["headers"]
    assert fwd["x-forwarded-for"] == "127.0.0.1"
    assert fwd["x-forwarded-proto"] == "http"
    assert fwd["cookie"] == "a=b"
    assert fwd["x-forwarded-host"] == host(proxy) == fwd["host"]
    assert "x-forwarded-prefix" not in fwd  # a client's claim is dropped
    # Embedding allowed: the app's X-Frame-Options goes; hop-by-hop headers never pass.
    assert "x-frame-options" not in resp.headers
    assert "x-hop" not in resp.headers
    assert resp.headers["cross-origin-opener-policy"] == "same-origin"


def test_request_records_activity(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    # A Space of its own: activity writes are throttled per Space within a proxy process.
    space = SpaceId("Bob", "Active")
    table.put(Route.for_space(space, upstream=upstream.url, sdk=Sdk.GRADIO, stage=Stage.RUNNING))
    assert table.last_activity(space.key) is None
    before = time.time()
    headers = {"host": f"{space.hostname(DOMAIN)}:{proxy.port}"}
    assert httpx.get(proxy.url + "/", headers=headers).status_code == 200
    last = table.last_activity(space.key)
    assert last is not None and last >= before - 1


def test_disable_embedding(proxy: ServerThread, upstream: ServerThread, table: RouteTable) -> None:
    put(table, upstream.url, disable_embedding=True)
    resp = get(proxy, "/")
    assert resp.headers.get_list("x-frame-options") == ["DENY"]
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


def test_streamlit_prefix_by_host(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    put(table, upstream.url, sdk=Sdk.STREAMLIT)
    assert get(proxy, "/_stcore/health").json()["path"] == \
        "/spaces/alice/demo/_stcore/health"
    # Already-prefixed paths (URLs the app built itself) pass unchanged by host.
    assert get(proxy, "/spaces/alice/demo/x").json()["path"] == \
        "/spaces/alice/demo/x"


def test_item2_path_urls_redirect_to_the_space_host(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable, proxy_settings: Settings
) -> None:
    # Whatever the Space's state (here: running and public, what nginx used to serve by
    # path), its code never runs on the dashboard's origin: path and query move to its host.
    put(table, upstream.url)
    space_host = f"http://alice-demo.{DOMAIN}:{proxy_settings.public_port}"
    for path, where in (("/spaces/Alice/Demo?q=1", "/?q=1"), ("/spaces/alice/demo/", "/"),
                        ("/spaces/alice/demo/a/b%2Fc?x=1&y", "/a/b%2Fc?x=1&y")):
        for method in ("GET", "POST", "HEAD"):
            resp = httpx.request(method, proxy.url + path)
            assert resp.status_code == 307, (method, path, resp.status_code)
            assert resp.headers["location"] == space_host + where, (method, path)
    resp = get(proxy, "/")  # control: by host, it is served
    assert resp.status_code == 200 and resp.json()["path"] == "/"

    async def websocket_by_path() -> int:
        try:
            async with connect(f"ws://127.0.0.1:{proxy.port}/spaces/alice/demo/ws", proxy=None):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(websocket_by_path()) == 404


def test_api_paths(proxy: ServerThread, api: ServerThread, table: RouteTable) -> None:
    for path in ("/api/spaces", "/spaces/alice/demo/info/refs?service=git-upload-pack",
                 "/spaces/alice/demo.git/info/refs", "/", "/login",
                 # huggingface_hub's downloads, answered by the API (issue 13 item 1)
                 "/spaces/alice/demo/resolve/main/app.py"):
        seen = httpx.get(proxy.url + path).json()
        assert seen["path"] == path.split("?")[0], path
        assert "x-forwarded-prefix" not in seen["headers"]
    resp = httpx.post(proxy.url + "/spaces/alice/demo/git-upload-pack", content=b"0000")
    assert resp.json()["method"] == "POST" and resp.json()["path"].endswith("git-upload-pack")


def test_unknown_space_404_names_it(proxy: ServerThread, table: RouteTable) -> None:
    resp = get(proxy, "/", headers={"accept": "text/html"})
    assert resp.status_code == 404
    assert "alice-demo" in resp.text
    resp = get(proxy, "/", headers={"accept": "application/json"})
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"


def test_upstream_down_502(proxy: ServerThread, table: RouteTable) -> None:
    put(table, f"http://127.0.0.1:{free_port()}")
    resp = get(proxy, "/", headers={"accept": "text/html"})
    assert resp.status_code == 502
    assert "Alice/Demo" in resp.text and "Traceback" not in resp.text


def test_large_bodies_stream_intact(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    put(table, upstream.url)

    want = digest_of(BIG)
    headers = {"host": host(proxy)}
    base = proxy.url
    digest, size = hashlib.sha256(), 0
    with httpx.stream("GET", f"{base}/big?size={BIG}", headers=headers, timeout=60) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_raw():
            digest.update(chunk)
            size += len(chunk)
    assert (size, digest.hexdigest()) == (BIG, want)

    resp = httpx.post(f"{base}/upload", content=blocks(BIG), headers=headers, timeout=60)
    assert resp.json() == {"size": BIG, "sha256": want}


def test_sse_first_event_before_end(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    put(table, upstream.url)
    arrivals: list[float] = []
    streams_while_open = -1
    with httpx.stream("GET", proxy.url + "/sse?n=5&interval=0.2",
                      headers={"host": host(proxy)}, timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic())
                if len(arrivals) == 1:
                    streams_while_open = table.open_streams(SPACE.key)
    assert len(arrivals) == 5
    # Four 0.2 s gaps separate the first event from the last: a buffering proxy would
    # deliver them all together at the end.
    assert arrivals[-1] - arrivals[0] > 0.4
    assert streams_while_open == 1
    assert settles(lambda: table.open_streams(SPACE.key) == 0)


def test_websocket_echo_and_close_code(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    put(table, upstream.url)
    uri = f"ws://{host(proxy)}/ws"

    async def run() -> tuple[object, ...]:
        async with connect(uri, host="127.0.0.1", port=proxy.port,
                           subprotocols=["echo.v1"], proxy=None) as ws:  # type: ignore[list-item]
            await ws.send("hello")
            text = await ws.recv()
            await ws.send(b"\x00\x01binary")
            data = await ws.recv()
            await ws.send("headers")
            headers = json.loads(await ws.recv())
            opened = table.open_streams(SPACE.key)
            await ws.send("close:4001")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return text, data, ws.subprotocol, headers, opened, ws.close_code, ws.close_reason

    text, data, subprotocol, headers, opened, code, reason = asyncio.run(run())
    assert (text, data, subprotocol) == ("hello", b"\x00\x01binary", "echo.v1")
    assert "x-forwarded-prefix" not in headers
    assert (opened, code, reason) == (1, 4001, "asked")
    assert settles(lambda: table.open_streams(SPACE.key) == 0)


def test_websocket_unknown_space_refused(proxy: ServerThread, table: RouteTable) -> None:
    async def run() -> int:
        try:
            async with connect(f"ws://{host(proxy)}/ws", host="127.0.0.1", port=proxy.port,
                               proxy=None):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(run()) == 404


def test_sleeping_browser_gets_waking_page(
    proxy: ServerThread, table: RouteTable
) -> None:
    put(table, None, stage=Stage.SLEEPING)
    resp = get(proxy, "/", headers={"accept": "text/html"})
    assert resp.status_code == 503 and "retry-after" in resp.headers
    assert "/__podium/status" in resp.text and "Alice/Demo" in resp.text
    assert table.wait_wake_request(timeout=1) == SPACE.key
    status = get(proxy, "/__podium/status").json()
    assert status == {"space": "Alice/Demo", "stage": "SLEEPING", "ready": False}


def test_sleeping_api_client_waits_for_wake(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable
) -> None:
    put(table, None, stage=Stage.SLEEPING)
    result: dict[str, httpx.Response] = {}
    client = threading.Thread(target=lambda: result.setdefault(
        "r", get(proxy, "/woken", headers={"accept": "application/json"})))
    client.start()
    # The scheduler's side: take the wake request, start the app, publish the route.
    assert table.wait_wake_request(timeout=10) == SPACE.key
    put(table, upstream.url, stage=Stage.RUNNING)
    client.join(timeout=20)
    assert result["r"].status_code == 200 and result["r"].json()["path"] == "/woken"


def test_paused_does_not_wake(proxy: ServerThread, table: RouteTable) -> None:
    put(table, None, stage=Stage.PAUSED)
    resp = get(proxy, "/", headers={"accept": "application/json"})
    assert resp.status_code == 503 and resp.json()["error"] == "paused"
    assert table.wait_wake_request(timeout=0.2) is None


def test_private_space_needs_grant(
    proxy: ServerThread, upstream: ServerThread, table: RouteTable, proxy_settings: Settings,
    tmp_path: Path,
) -> None:
    put(table, upstream.url, private=True)
    assert get(proxy, "/").status_code == 404
    token = GrantSigner.from_settings(proxy_settings).issue(SPACE.key, "bob", ttl=60)
    other = GrantSigner.from_settings(proxy_settings).issue("alice/other", "bob", ttl=60)
    assert get(proxy, "/",
               headers={"authorization": f"Bearer {other}"}).status_code == 404
    resp = get(proxy, "/", headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and "authorization" not in resp.json()["headers"]
    with httpx.Client(base_url=proxy.url, headers={"host": host(proxy)}) as browser:
        grant = browser.get(f"/__podium/grant?token={token}&next=/deep")
        assert grant.status_code == 303 and grant.headers["location"] == "/deep"
        # One cookie: first-party (Lax) at top level, as API clients and share links get it;
        # partitioned (SameSite=None; Secure) in another site's frame, as the dashboard's
        # frame on localhost is (item 2: the grant lives on the Space's host).
        cookies = [c.lower() for c in grant.headers.get_list("set-cookie")]
        assert len(cookies) == 1 and "httponly" in cookies[0] and "path=/;" in cookies[0]
        assert "samesite=lax" in cookies[0] and "partitioned" not in cookies[0]
        framed = browser.get(f"/__podium/grant?token={token}", headers={
            "sec-fetch-dest": "iframe", "sec-fetch-site": "cross-site"})
        cookies = [c.lower() for c in framed.headers.get_list("set-cookie")]
        assert len(cookies) == 1 and "httponly" in cookies[0]
        assert all(f in cookies[0] for f in ("samesite=none", "secure", "partitioned"))
        for elsewhere in ("//evil.example/", "/\\evil.example", "https://evil.example/",
                          "/\t/evil.example"):
            away = browser.get("/__podium/grant", params={"token": token, "next": elsewhere})
            assert away.headers["location"] == "/", elsewhere
        # The cookie is host-only for the Space's host; httpx's jar keys on 127.0.0.1.
        seen = browser.get("/after", headers={"cookie": f"podium_access={token}; theme=dark"})
        assert seen.status_code == 200
        assert seen.json()["headers"]["cookie"] == "theme=dark"
        assert browser.get(f"/__podium/grant?token={other}").status_code == 403


def test_cached_route_swapped_to_a_new_upstream(
    redis_url: str, proxy_settings: Settings, upstream: ServerThread, table: RouteTable,
    server_options: dict[str, object],
) -> None:
    # A route cached for a minute still follows a blue/green swap: the old upstream is gone,
    # the proxy re-reads the route and retries (bodiless requests only).
    app = create_proxy_app(proxy_settings, aioredis.Redis.from_url(redis_url), cache_seconds=60)
    with ServerThread(app, **server_options) as cached:
        old = ServerThread(upstream_app())
        with old:
            put(table, old.url)
            assert get(cached, "/one").json()["path"] == "/one"
        put(table, upstream.url)
        assert get(cached, "/two").json()["path"] == "/two"
