"""The nginx-lua data plane as `podium proxy` runs it (a real nginx with Debian's Lua module,
routes pushed into its shared memory from the route table in a real Redis, the Python proxy
behind it) against real upstreams on loopback: what it serves itself matches the Python
proxy, what it hands over is counted there, and a route switched back and forth under busy
keep-alive clients drops no request (the point of this plane: no reload, ever).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from podium.children import free_port
from podium.names import SpaceId
from podium.proxy.plane import nginxlua
from podium.proxy.plane.nginx import lua_modules
from podium.proxy.testing import ServerThread, settles, upstream_app
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage
from tests.conftest import require
from tests.unit.test_nginx_lua import layout_in

pytestmark = pytest.mark.redis

DOMAIN = "podium.test"
SPACE = SpaceId("alice", "demo")
SWITCHES = 30


def tagged(tag: str, counts: Counter[str]) -> Any:
    """The test upstream, counting its requests and naming itself in ``x-upstream``."""
    inner = upstream_app()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        counts[tag] += 1

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"x-upstream", tag.encode())]
            await send(message)

        await inner(scope, receive, named)

    return app


@pytest.fixture(scope="module")
def counts() -> Counter[str]:
    return Counter()


@pytest.fixture(scope="module")
def upstreams(counts: Counter[str]) -> Iterator[tuple[ServerThread, ServerThread]]:
    with ServerThread(tagged("one", counts)) as one, ServerThread(tagged("two", counts)) as two:
        yield one, two


@contextmanager
def running_plane(
    redis_url: str, data: Path, plane: str, workers: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[int, Path]]:
    """`python -m podium.proxy` with the named data plane, as `podium proxy` runs it; yields
    its public port and nginx's run directory, and checks on the way out that it stopped
    cleanly."""
    port = free_port()
    env = {**os.environ, "PODIUM_REDIS_URL": redis_url, "PODIUM_DOMAIN": DOMAIN,
           "PODIUM_PUBLIC_PORT": str(port), "PODIUM_PROXY_HOST": "127.0.0.1",
           "PODIUM_DATA_DIR": str(data), "PODIUM_API_PORT": str(free_port()),
           "PODIUM_PROXY_DATA_PLANE": plane, "PODIUM_SECRET_KEY": "test-key",
           "PODIUM_PROXY_WORKERS": str(workers), **(env or {})}
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
    require(lua_modules("nginx") is not None, "nginx's Lua module is not installed "
            "(apt-get install libnginx-mod-http-lua)")
    # Two workers: a route change must reach every worker, not just one.
    with running_plane(redis_url, tmp_path_factory.mktemp("nginx-lua-plane"), "nginx-lua",
                       workers=2) as found:
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


def _workers(run_dir: Path) -> set[int]:
    master = int((run_dir / "nginx.pid").read_text())
    return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def _served_by(port: int) -> str:
    resp = get(port, "/kb")
    assert resp.status_code == 200
    return resp.headers.get("x-upstream", "?")


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


def test_route_changes_reach_nginx_without_a_reload(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable
) -> None:
    port, run_dir = plane
    one, two = upstreams
    put_and_apply(table, Route.for_space(SPACE, upstream=one.url, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))
    workers = _workers(run_dir)
    assert _served_by(port) == "one"
    # A swap: once wait_applied returns, every worker serves with the new upstream only.
    put_and_apply(table, Route.for_space(SPACE, upstream=two.url, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING))
    with httpx.Client(timeout=15) as client:
        for _ in range(20):
            seen = client.get(f"http://127.0.0.1:{port}/kb",
                              headers={"host": f"{SPACE.hostname(DOMAIN)}:{port}"})
            assert seen.status_code == 200 and seen.headers["x-upstream"] == "two"
    # Private: handed to the Python proxy, which asks for a grant.
    put_and_apply(table, Route.for_space(SPACE, upstream=two.url, sdk=Sdk.DOCKER,
                                         stage=Stage.RUNNING, private=True))
    # Waited for, not slept on: the Python proxy may serve its cached route for up to
    # ROUTE_CACHE_SECONDS (1 s) after a change.
    assert settles(lambda: get(port, "/kb").status_code in (302, 401, 403, 404), 5)
    # Asleep: nginx no longer serves it; the Python proxy answers with the waking page.
    put_and_apply(table, Route.for_space(SPACE, upstream=None, sdk=Sdk.DOCKER,
                                         stage=Stage.SLEEPING))
    def waking() -> bool:
        page = get(port, "/", accept="text/html")
        return page.status_code == 503 and "waking" in page.text.lower()

    assert settles(waking, 5)
    # ... and asks the scheduler to wake it.
    assert table.redis.lrange(table.keys.wake, 0, -1) == [SPACE.key.encode()]
    # None of that reloaded nginx: the same workers serve.
    assert _workers(run_dir) == workers


def test_switching_under_keep_alive_load_drops_no_request(
    plane: tuple[int, Path], upstreams: tuple[ServerThread, ServerThread], table: RouteTable,
    counts: Counter[str],
) -> None:
    """A deploy swap is a route switch: with busy keep-alive clients (what a browser or an
    API client holds), 30 switches between two upstreams must fail no request."""
    port, _ = plane
    one, two = upstreams
    routes = [Route.for_space(SPACE, upstream=u.url, sdk=Sdk.DOCKER, stage=Stage.RUNNING)
              for u in (one, two)]
    put_and_apply(table, routes[0])
    stop = threading.Event()
    done: Counter[str] = Counter()
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(timeout=15) as http:
            while not stop.is_set():
                try:
                    resp = http.get(f"http://127.0.0.1:{port}/kb",
                                    headers={"host": f"{SPACE.hostname(DOMAIN)}:{port}"})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if resp.status_code != 200:
                    failures.append(f"{resp.status_code} {resp.text[:100]}")
                done[resp.headers.get("x-upstream", "python")] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    before = Counter(counts)
    for thread in threads:
        thread.start()
    wrong: list[tuple[int, str]] = []
    try:
        for i in range(SWITCHES):
            new = (i + 1) % 2
            put_and_apply(table, routes[new])
            # Applied means applied: the next request goes to the new upstream.
            if (seen := _served_by(port)) != ("one", "two")[new]:
                wrong.append((i, seen))
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    served = counts - before
    summary = f"nginx-lua: {sum(done.values())} requests {dict(done)}, upstreams {dict(served)}"
    print(summary)
    assert not failures, (summary, len(failures), failures[:5])
    assert not wrong, (summary, wrong)
    # Both versions really served, each in its turn, from nginx (not handed over).
    assert served["one"] > SWITCHES and served["two"] > SWITCHES, summary
    assert done["one"] > SWITCHES and done["two"] > SWITCHES, summary


# Last: the Python proxy's route cache would keep its dead upstream for the next test's
# handed-over requests.
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


def test_rendered_config_is_accepted_by_nginx(tmp_path: Path) -> None:
    require(shutil.which("nginx") is not None, "nginx is not installed (nginx-light)")
    modules = lua_modules("nginx")
    require(modules is not None, "nginx's Lua module is not installed "
            "(libnginx-mod-http-lua)")
    assert modules is not None
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / sub).mkdir(parents=True)
    layout = layout_in(tmp_path, modules)
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginxlua.render(layout, domain="Example.org", scheme="https"))
    assert 'init({suffix = ".example.org", token = "ab12"})' in conf.read_text()
    # The Lua is the shipped file, loaded from where the package lies.
    assert f'lua_package_path "{nginxlua.HERE}/?.lua;;";' in conf.read_text()
    assert (nginxlua.HERE / "podium_plane.lua").is_file()
    check = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e",
                            "stderr"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
