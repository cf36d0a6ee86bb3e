"""Visits per Space per day, counted from real traffic through both data planes (nginx-lua
as `podium proxy` runs it, and the Python proxy), into a real Redis: navigations count,
assets, API calls, other methods and error answers do not; a request nginx hands to the
Python proxy counts once; unique visitors are estimated per day; and no client address or
user agent is written anywhere in Redis or left in nginx's log."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from starlette.responses import PlainTextResponse

from podium.analytics.visits import Visit, VisitRecorder, day_of, series
from podium.config import Settings
from podium.keys import VISITS_TTL_SECONDS, VisitKeys
from podium.proxy.app import create_proxy_app
from podium.proxy.plane.nginx import lua_modules
from podium.proxy.testing import ServerThread, free_port, settles, upstream_app
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage
from tests.conftest import require
from tests.integration.test_proxy_nginx_lua import DOMAIN, SPACE, running_plane

pytestmark = pytest.mark.redis

AGENT_A = "Mozilla/5.0 visitor-A"
AGENT_B = "curl/8.0 visitor-B"
NAVIGATE = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}


def space_app() -> Any:
    """The test upstream, with a page that is missing (404)."""
    inner = upstream_app()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/gone":
            await PlainTextResponse("gone", 404)(scope, receive, send)
            return
        await inner(scope, receive, send)

    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(space_app()) as server:
        yield server


@contextmanager
def python_plane(redis_url: str, data: Path) -> Iterator[int]:
    settings = Settings(data_dir=data, domain=DOMAIN, public_port=free_port(),
                        api_port=free_port(), secret_key="test-key")
    app = create_proxy_app(settings, aioredis.Redis.from_url(redis_url), cache_seconds=0)
    with ServerThread(app, port=settings.public_port) as server:
        yield server.port


@pytest.fixture(params=["nginx-lua", "python"])
def plane(request: pytest.FixtureRequest, redis_url: str,
          tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    redis.Redis.from_url(redis_url).flushall()
    if request.param == "python":
        with python_plane(redis_url, tmp_path) as port:
            yield "python", port, tmp_path
        return
    require(shutil.which("nginx") is not None, "nginx is not installed")
    require(lua_modules("nginx") is not None, "nginx's Lua module is not installed")
    with running_plane(redis_url, tmp_path, "nginx-lua") as (port, run_dir):
        yield "nginx-lua", port, run_dir


def send(port: int, method: str, path: str, agent: str, **headers: str) -> int:
    headers = {"host": f"{SPACE.hostname(DOMAIN)}:{port}", "user-agent": agent, **headers}
    return httpx.request(method, f"http://127.0.0.1:{port}{path}", headers=headers,
                         timeout=15).status_code


def today(conn: redis.Redis) -> tuple[int, int]:
    last = series(conn, [SPACE.key], days=1)[-1]
    return last.visits, last.visitors


def test_navigations_count_once_per_request_and_visitors_per_day(
    plane: tuple[str, int, Path], upstream: ServerThread, redis_url: str,
) -> None:
    name, port, run_dir = plane
    conn = redis.Redis.from_url(redis_url)
    table = RouteTable(conn)
    table.put(Route.for_space(SPACE, upstream=upstream.url, sdk=Sdk.DOCKER,
                              stage=Stage.RUNNING))
    if name == "nginx-lua":
        assert table.wait_applied(timeout=10)
    # Visits: two navigations of visitor A, one HTML GET without Fetch Metadata by B, and
    # a navigation nginx hands to the Python proxy (a Podium cookie) by A again.
    assert send(port, "GET", "/", AGENT_A, **NAVIGATE) == 200
    assert send(port, "GET", "/?page=2", AGENT_A, **NAVIGATE) == 200
    assert send(port, "GET", "/", AGENT_B, accept="text/html,*/*") == 200
    assert send(port, "GET", "/", AGENT_A, cookie="podium_access=x", **NAVIGATE) == 200
    # Not visits: assets and API calls (Fetch Metadata or Accept say so), another method,
    # and a navigation the Space answered with an error.
    assert send(port, "GET", "/kb", AGENT_A, **{"sec-fetch-mode": "no-cors"}) == 200
    assert send(port, "GET", "/api/x", AGENT_A, accept="application/json") == 200
    assert send(port, "GET", "/x", AGENT_B, accept="text/html",
                **{"sec-fetch-mode": "cors"}) == 200
    assert send(port, "POST", "/", AGENT_A, accept="text/html") == 200
    assert send(port, "GET", "/gone", AGENT_A, **NAVIGATE) == 404
    # nginx's log is read once a second: wait for the four, then make sure no more come.
    assert settles(lambda: today(conn)[0] >= 4, 10), today(conn)
    time.sleep(2.5)
    assert today(conn) == (4, 2)
    _nothing_identifies_a_visitor(conn, run_dir, ["127.0.0.1", AGENT_A, AGENT_B,
                                                  "visitor-A", "visitor-B"])
    keys = VisitKeys()
    for key in (keys.count(SPACE.key, day_of(time.time())),
                keys.visitors(SPACE.key, day_of(time.time()))):
        assert 0 < conn.ttl(key) <= VISITS_TTL_SECONDS
    assert 0 < conn.ttl(keys.salt(day_of(time.time()))) <= 24 * 3600 + 300


def _nothing_identifies_a_visitor(conn: redis.Redis, run_dir: Path, needles: list[str]) -> None:
    """Every key name and every value (DUMP: strings, HyperLogLogs, hashes) in Redis, and
    every file nginx writes, without an address or user agent."""
    for key in conn.scan_iter(count=1000):
        blob = key + (conn.dump(key) or b"")
        for needle in needles:
            assert needle.encode() not in blob, (key, needle)
    for path in run_dir.rglob("*.log"):
        text = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in text, (path, needle)


def test_a_new_day_has_a_new_salt_and_old_days_expire(redis_conn: redis.Redis) -> None:
    recorder = VisitRecorder(redis_conn)
    day1 = 1_800_000_000.0  # some UTC day, at 08:00
    day2 = day1 + 24 * 3600
    visit = Visit("alice/demo", "203.0.113.7", "agent")
    recorder.record([visit, visit], now=day1)
    recorder.record([visit], now=day2)
    keys = VisitKeys()
    salt1 = redis_conn.get(keys.salt(day_of(day1)))
    salt2 = redis_conn.get(keys.salt(day_of(day2)))
    assert salt1 and salt2 and salt1 != salt2
    # The salt lives until its day ends (plus a little), never the 31 days of the counts.
    assert redis_conn.ttl(keys.salt(day_of(day1))) <= 16 * 3600 + 300
    days = series(redis_conn, ["alice/demo"], days=2, now=day2)
    assert [(d.visits, d.visitors) for d in days] == [(2, 1), (1, 1)]
    # Several Spaces: visits add up, one visitor of both is one visitor.
    recorder.record([Visit("alice/other", "203.0.113.7", "agent"),
                     Visit("alice/other", "198.51.100.1", "agent")], now=day2)
    both = series(redis_conn, ["alice/demo", "alice/other"], days=1, now=day2)[0]
    assert (both.visits, both.visitors) == (3, 2)
