"""The nginx data plane as `podium proxy` runs it (a real nginx, configured from the route
table in a real Redis, the Python proxy behind it) against a real upstream on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from podium.names import SpaceId
from podium.proxy.testing import ServerThread, free_port, settles, upstream_app
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage
from tests.conftest import require

pytestmark = pytest.mark.redis

DOMAIN = "podium.test"
SPACE = SpaceId("alice", "demo")


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[ServerThread, ServerThread]]:
    with ServerThread(upstream_app()) as one, ServerThread(upstream_app()) as two:
        yield one, two


@contextmanager
def running_plane(
    redis_url: str, data: Path, plane: str, workers: int = 1
) -> Iterator[tuple[int, Path]]:
    """`python -m podium.proxy` with the named data plane, as `podium proxy` runs it; yields
    its public port and nginx's run directory, and checks on the way out that it stopped
    cleanly."""
    port = free_port()
    env = {**os.environ, "PODIUM_REDIS_URL": redis_url, "PODIUM_DOMAIN": DOMAIN,
           "PODIUM_PUBLIC_PORT": str(port), "PODIUM_PROXY_HOST": "127.0.0.1",
           "PODIUM_DATA_DIR": str(data), "PODIUM_API_PORT": str(free_port()),
           "PODIUM_PROXY_DATA_PLANE": plane, "PODIUM_SECRET_KEY": "test-key",
           "PODIUM_PROXY_WORKERS": str(workers)}
    log = (data / "proxy.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "podium.proxy"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        assert settles(lambda: _listening(port), 20), (data / "proxy.log").read_text()
        # Registered as a data plane: from now on the scheduler's wait_applied waits for it.
        conn = redis.Redis.from_url(redis_url)
        assert settles(lambda: conn.zcard(RouteTable(conn).keys.planes) > 0, 10)
        yield port, data / "proxy" / f"nginx-{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
    # A stopped plane unregisters itself: the scheduler must not wait for it.
    conn = redis.Redis.from_url(redis_url)
    assert conn.zcard(RouteTable(conn).keys.planes) == 0, (data / "proxy.log").read_text()
    # nginx went with its parent: nothing listens any more.
    assert not _listening(port)


@pytest.fixture(scope="module")
def plane(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    require(shutil.which("nginx") is not None, "nginx is not installed (apt-get install "
            "nginx-light)")
    with running_plane(redis_url, tmp_path_factory.mktemp("nginx-plane"), "nginx") as found:
        yield found


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True


@pytest.fixture
def table(redis_url: str) -> Iterator[RouteTable]:
    conn = redis.Redis.from_url(redis_url)
    yield RouteTable(conn)
    for route in RouteTable(conn).all():
        RouteTable(conn).remove(route.space_key)


def put_and_apply(table: RouteTable, route: Route) -> None:
    table.put(route)
    assert table.wait_applied(timeout=10), "the nginx plane did not apply the route change"


def get(port: int, path: str, **headers: str) -> httpx.Response:
    """GET ``path`` on the Space's host: the only origin a Space is served on."""
    headers["host"] = f"{SPACE.hostname(DOMAIN)}:{port}"
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=15)


@pytest.mark.parametrize("sdk", [Sdk.GRADIO, Sdk.STREAMLIT, Sdk.DOCKER])
def test_paths_and_headers_match_the_python_proxy(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable,
    sdk: Sdk,
) -> None:
    port, _ = plane
    put_and_apply(table, Route.for_space(
        SPACE, upstream=upstreams[0].url, sdk=sdk, stage=Stage.RUNNING,
        custom_headers={"cross-origin-opener-policy": "same-origin"}))
    seen = get(port, "/some/p%20ath?x=1", **{"x-forwarded-for": "6.6.6.6",
                                             "x-forwarded-prefix": "/spaces/alice/demo"})
    assert seen.status_code == 200
    body = seen.json()
    canonical = "/spaces/alice/demo"
    expected = (canonical if sdk == Sdk.STREAMLIT else "") + "/some/p%20ath"
    assert body["raw_path"] == expected and body["query"] == "x=1"
    fwd = body["headers"]
    assert fwd["x-forwarded-for"] == "127.0.0.1"  # the client's claim is replaced
    assert fwd["x-forwarded-proto"] == "http"
    assert fwd.get("x-forwarded-prefix", "") == ""  # a client's claim is dropped
    assert "x-frame-options" not in seen.headers
    assert seen.headers["cross-origin-opener-policy"] == "same-origin"
    if sdk != Sdk.DOCKER:
        # URLs the app built with its root path lose the prefix again.
        again = get(port, f"{canonical}/x?y=2").json()
        assert again["raw_path"] == (canonical if sdk == Sdk.STREAMLIT else "") + "/x"


def test_item2_path_urls_are_redirected_to_the_space_host_not_served(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable
) -> None:
    # A running public Space, which nginx serves itself by host: by path on the main
    # domain it is not served (its code would run on the dashboard's origin) but
    # redirected, path and query kept, by the Python proxy behind nginx.
    port, _ = plane
    put_and_apply(table, Route.for_space(SPACE, upstream=upstreams[0].url, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))
    assert get(port, "/echo").status_code == 200  # control: served by host
    space_host = f"http://{SPACE.hostname(DOMAIN)}:{port}"
    for main in (DOMAIN, "127.0.0.1"):
        for path, where in (("/spaces/alice/demo/echo?x=1", "/echo?x=1"),
                            ("/spaces/alice/demo/", "/"), ("/spaces/Alice/Demo", "/")):
            for method in ("GET", "POST"):
                resp = httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=15,
                                     headers={"host": f"{main}:{port}"})
                assert resp.status_code == 307, (main, method, path, resp.text[:200])
                assert resp.headers["location"] == space_host + where, (main, method, path)


def test_requests_nginx_serves_count_as_activity(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable
) -> None:
    port, run_dir = plane
    space = SpaceId("bob", "busy")
    put_and_apply(table, Route.for_space(space, upstream=upstreams[0].url, sdk=Sdk.GRADIO,
                                         stage=Stage.RUNNING))
    table.redis.hdel(table.keys.activity, space.key)
    before = time.time()
    headers = {"host": f"{space.hostname(DOMAIN)}:{port}"}
    assert httpx.get(f"http://127.0.0.1:{port}/kb", headers=headers).status_code == 200
    assert settles(lambda: (table.last_activity(space.key) or 0) >= before, 10)
    # nginx served it (its activity log names the Space), not the Python proxy.
    assert b"bob/busy" in (run_dir / "activity.log").read_bytes()


def test_disable_embedding_and_cookie_stripping(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable
) -> None:
    port, _ = plane
    put_and_apply(table, Route.for_space(SPACE, upstream=upstreams[0].url, sdk=Sdk.GRADIO,
                                         stage=Stage.RUNNING, disable_embedding=True))
    resp = get(port, "/echo")
    assert resp.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    # Podium's cookies are handed to the Python proxy, which strips them.
    cookies = get(port, "/echo", cookie="podium_session=s; a=b").json()
    assert cookies["headers"]["cookie"] == "a=b"


def test_websockets_and_event_streams_are_counted_by_the_python_proxy(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable
) -> None:
    port, _ = plane
    up = upstreams[0].url
    put_and_apply(table, Route.for_space(SPACE, upstream=up, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))

    async def talk() -> tuple[str, int]:
        async with connect(f"ws://{SPACE.hostname(DOMAIN)}:{port}/ws", host="127.0.0.1",
                           port=port, proxy=None) as ws:
            await ws.send("hello")
            answer = str(await ws.recv())
            return answer, table.open_streams(SPACE.key, upstream=up)

    answer, open_while_talking = asyncio.run(talk())
    assert answer == "hello" and open_while_talking == 1
    assert settles(lambda: table.open_streams(SPACE.key) == 0)

    with httpx.stream("GET", f"http://127.0.0.1:{port}/sse?n=3&interval=0.5",
                      headers={"host": f"{SPACE.hostname(DOMAIN)}:{port}",
                               "accept": "text/event-stream"}, timeout=15) as stream:
        # Keep the iterator: a dropped one closes the connection (httpcore closes on
        # GeneratorExit), and the stream would end before it is looked at.
        lines = stream.iter_lines()
        assert next(lines).startswith("id: 0")
        assert settles(lambda: table.open_streams(SPACE.key, upstream=up) == 1, 3.0)


def test_route_changes_reach_nginx_before_the_scheduler_goes_on(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable
) -> None:
    port, run_dir = plane
    one, two = upstreams
    put_and_apply(table, Route.for_space(SPACE, upstream=one.url, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))
    assert get(port, "/echo").status_code == 200
    # A swap: once wait_applied returns, nginx serves with the new upstream only.
    put_and_apply(table, Route.for_space(SPACE, upstream=two.url, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))
    conf = (run_dir / "nginx.conf").read_text()
    assert f"127.0.0.1:{two.port};" in conf and f"127.0.0.1:{one.port};" not in conf
    with httpx.Client(timeout=15) as client:
        for _ in range(20):
            seen = client.get(f"http://127.0.0.1:{port}/echo",
                              headers={"host": f"{SPACE.hostname(DOMAIN)}:{port}"})
            assert seen.status_code == 200
    # Asleep: nginx no longer serves it; the Python proxy answers with the waking page
    # and asks the scheduler to wake it.
    put_and_apply(table, Route.for_space(SPACE, upstream=None, sdk=Sdk.DOCKER,
                                         stage=Stage.SLEEPING))
    time.sleep(1.2)  # the Python proxy's route cache (the scheduler's drain_s covers it)
    page = get(port, "/", accept="text/html")
    assert page.status_code == 503, (page.headers, page.text[:300])
    assert "waking" in page.text.lower()
    assert table.redis.lrange(table.keys.wake, 0, -1) == [SPACE.key.encode()]


def test_a_refused_upstream_falls_back_to_the_python_proxy(
    plane: tuple[int, Path], table: RouteTable
) -> None:
    port, _ = plane
    dead = f"http://127.0.0.1:{free_port()}"
    put_and_apply(table, Route.for_space(SPACE, upstream=dead, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))
    resp = get(port, "/")
    # The Python proxy's answer for an upstream that is down (JSON for API clients).
    assert resp.status_code == 502 and resp.json()["error"]
