"""The nginx-lua data plane as `podium proxy` runs it (a real nginx with Debian's Lua module,
routes pushed into its shared memory from the route table in a real Redis, the Python proxy
behind it) against real upstreams on loopback.

The behaviour tests of the reload-based plane (tests/integration/test_proxy_nginx.py) run
here too, against this plane, through the ``plane`` fixture below. The test of this plane's
point: a route switched back and forth under busy keep-alive clients drops no request (the
reload-based plane resets a few: ``PODIUM_TEST_NGINX_PLANE=nginx`` runs this module
against it).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium.proxy.plane.nginx import lua_modules
from podium.proxy.routes import Route, RouteTable
from podium.proxy.testing import ServerThread, settles, upstream_app
from podium.spaces.stage import Sdk, Stage
from tests.conftest import require
from tests.integration import test_proxy_nginx as reload_plane
from tests.integration.test_proxy_nginx import (
    DOMAIN,
    SPACE,
    get,
    put_and_apply,
    running_plane,
)

# The reload-based plane's fixture and behaviour tests, run here against this module's
# ``plane``, in that module's order (the refused-upstream test last: the Python proxy's
# route cache would keep its dead upstream for the next test's handed-over requests).
table = reload_plane.table
test_paths_and_headers_match_the_python_proxy = (
    reload_plane.test_paths_and_headers_match_the_python_proxy)
test_item2_path_urls_are_redirected_to_the_space_host_not_served = (
    reload_plane.test_item2_path_urls_are_redirected_to_the_space_host_not_served)
test_requests_nginx_serves_count_as_activity = (
    reload_plane.test_requests_nginx_serves_count_as_activity)
test_disable_embedding_and_cookie_stripping = (
    reload_plane.test_disable_embedding_and_cookie_stripping)
test_websockets_and_event_streams_are_counted_by_the_python_proxy = (
    reload_plane.test_websockets_and_event_streams_are_counted_by_the_python_proxy)

pytestmark = pytest.mark.redis

PLANE = os.environ.get("PODIUM_TEST_NGINX_PLANE", "nginx-lua")
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


@pytest.fixture(scope="module")
def plane(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    require(shutil.which("nginx") is not None, "nginx is not installed (apt-get install "
            "nginx-light)")
    if PLANE == "nginx-lua":
        require(lua_modules("nginx") is not None, "nginx's Lua module is not installed "
                "(apt-get install libnginx-mod-http-lua)")
    # Two workers: a route change must reach every worker, not just one.
    with running_plane(redis_url, tmp_path_factory.mktemp("nginx-lua-plane"), PLANE,
                       workers=2) as found:
        yield found


def _workers(run_dir: Path) -> set[int]:
    master = int((run_dir / "nginx.pid").read_text())
    return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def _served_by(port: int) -> str:
    resp = get(port, "/kb")
    assert resp.status_code == 200
    return resp.headers.get("x-upstream", "?")


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
    summary = f"{PLANE}: {sum(done.values())} requests {dict(done)}, upstreams {dict(served)}"
    print(summary)
    assert not failures, (summary, len(failures), failures[:5])
    assert not wrong, (summary, wrong)
    # Both versions really served, each in its turn, from nginx (not handed over).
    assert served["one"] > SWITCHES and served["two"] > SWITCHES, summary
    assert done["one"] > SWITCHES and done["two"] > SWITCHES, summary


test_a_refused_upstream_falls_back_to_the_python_proxy = (
    reload_plane.test_a_refused_upstream_falls_back_to_the_python_proxy)
