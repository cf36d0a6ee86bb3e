"""Idle Spaces cost nothing (issue 14 item 4), against the real engine and Redis: an idle
Space is frozen after ``freeze_after`` and then uses no CPU at all (its cgroup's CPU time
stands still), an open stream keeps it awake, and over the memory budget the least recently
used frozen Space is removed first; a request wakes both kinds (thaw and fresh start)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest
import redis

from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.testing import ProxyStandIn
from podium.scheduler.docker import DockerBackend
from podium.scheduler.records import Desired
from podium.scheduler.service import Scheduler
from podium.scheduler.spec import RunSpec
from podium.spaces.stage import Stage
from tests.conftest import build_image, require

pytestmark = [pytest.mark.docker, pytest.mark.redis]

# Like an idle Gradio app: serves HTTP and wakes every 10 ms for nothing (Gradio's own loop
# costs ~6 % of a core doing nothing), so an unfrozen idle container burns CPU.
APP = r'''
import http.server, threading, time

def tick():
    while True:
        sum(range(2000))
        time.sleep(0.01)

threading.Thread(target=tick, daemon=True).start()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''

DOCKERFILE = """FROM {base}
COPY app.py /app/app.py
LABEL podium.sdk=static podium.app_port=7860
CMD ["python3", "-u", "/app/app.py"]
"""


@pytest.fixture(scope="module")
def idle_image(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    ref = f"podium-test/idle-app:{uuid.uuid4().hex[:10]}"
    build_image(docker_client, ref, {"Dockerfile": DOCKERFILE.format(base=base_image),
                                     "app.py": APP})
    yield ref
    docker_client.images.remove(ref, force=True)


@pytest.fixture
def backend(settings: Settings, docker_client: docker.DockerClient) -> Iterator[DockerBackend]:
    require(shutil.which("iptables") is not None, "iptables is not installed")
    found = DockerBackend(settings, docker_client, scope=f"test-{uuid.uuid4().hex[:8]}")
    yield found
    for instance in found.list_instances():
        found.remove(instance)


@pytest.fixture
def routes(redis_conn: redis.Redis) -> ProxyStandIn:
    return ProxyStandIn(redis_conn)


def scheduler_for(settings: Settings, backend: DockerBackend, routes: ProxyStandIn,
                  redis_conn: redis.Redis, **changes: object) -> Scheduler:
    return Scheduler(settings.model_copy(update=changes), backend, routes, redis_conn,
                     drain_s=0)


def deploy(scheduler: Scheduler, image: str) -> RunSpec:
    space = SpaceId(f"t{uuid.uuid4().hex[:8]}", "idle")
    spec = RunSpec.for_space(
        scheduler.settings, space, image, app_port=7860, sdk="static", commit="c1",
        memory="256m", startup_timeout=20.0, pids=64, cpus=0.5,
    )
    spec.sleep_time = 3600
    scheduler.deploy(spec)
    return spec


def cpu_ns(backend: DockerBackend, space_key: str) -> int:
    [instance] = backend.list_instances(space_key)
    usage = backend.usage(instance)
    assert usage is not None, "the container's cgroup could not be read"
    return usage.cpu_ns


def serves(routes: ProxyStandIn, space_key: str) -> bool:
    route = routes.get(space_key)
    assert route is not None and route.stage == Stage.RUNNING and route.upstream
    return httpx.get(route.upstream, timeout=5, trust_env=False).text == "ok"


def test_idle_space_is_frozen_after_freeze_after_and_uses_no_cpu(
    settings: Settings, backend: DockerBackend, routes: ProxyStandIn,
    redis_conn: redis.Redis, idle_image: str,
) -> None:
    scheduler = scheduler_for(settings, backend, routes, redis_conn, freeze_after=2)
    spec = deploy(scheduler, idle_image)
    key = spec.key
    before = cpu_ns(backend, key)
    time.sleep(1.0)
    assert cpu_ns(backend, key) > before  # awake and idle, it still burns CPU

    # An open websocket / event stream is activity: past freeze_after it stays awake.
    routes.stream_opened(key)
    time.sleep(2.2)
    assert scheduler.idle_check() == []
    assert [i.running for i in backend.list_instances(key)] == [True]
    routes.stream_closed(key)

    assert scheduler.idle_check() == [key]  # idle for freeze_after with nothing open
    [frozen] = backend.list_instances(key)
    assert frozen.frozen
    assert routes.get(key).stage == Stage.SLEEPING  # type: ignore[union-attr]
    at_freeze = cpu_ns(backend, key)
    time.sleep(2.0)
    assert cpu_ns(backend, key) == at_freeze  # not one nanosecond while frozen

    woken = scheduler.wake(key)
    assert woken is not None and woken.id == frozen.id  # a thaw, not a new container
    assert serves(routes, key)


def test_memory_budget_removes_the_least_recently_used_frozen_space_first(
    settings: Settings, backend: DockerBackend, routes: ProxyStandIn,
    redis_conn: redis.Redis, idle_image: str,
) -> None:
    from podium.scheduler.idle import residents  # here: the old code fails on behaviour

    scheduler = scheduler_for(settings, backend, routes, redis_conn, freeze_after=60)
    specs = [deploy(scheduler, idle_image) for _ in range(3)]
    oldest, middle, newest = (s.key for s in specs)
    # Their last requests came 10, 20 and 30 s after the starts; the check runs at +100 s,
    # past freeze_after for all three. (A proxy writes activity at most once per
    # TOUCH_INTERVAL per Space: set it directly.)
    started = time.time()
    now = started + 100
    for after, spec in zip((10, 20, 30), specs, strict=True):
        routes.redis.hset(routes.keys.activity, spec.key, repr(started + after))
    first = {k: backend.list_instances(k)[0].id for k in (oldest, middle, newest)}
    assert sorted(scheduler.idle_check(now)) == sorted(first)  # all three idle: frozen
    held = {r.space_key: r.memory for r in residents(scheduler)}
    assert set(held) == set(first) and all(m > 0 for m in held.values())
    total = sum(held.values())

    # Under the budget: nothing goes.
    scheduler.settings = scheduler.settings.model_copy(
        update={"spaces_memory_budget": str(total + (1 << 20))})
    scheduler.idle_check(now)
    assert all(backend.list_instances(k) for k in first)

    # Just over it: only the least recently used one is removed.
    scheduler.settings = scheduler.settings.model_copy(
        update={"spaces_memory_budget": str(total - 1)})
    scheduler.idle_check(now)
    assert backend.list_instances(oldest) == []
    assert [i.frozen for i in backend.list_instances(middle)] == [True]
    assert [i.frozen for i in backend.list_instances(newest)] == [True]
    record = scheduler.records.get(oldest)
    assert record is not None and record.desired is Desired.SLEEPING

    # Tighter: the next least recently used goes too; the newest stays frozen.
    scheduler.settings = scheduler.settings.model_copy(
        update={"spaces_memory_budget": str(held[newest] + (1 << 20))})
    scheduler.idle_check(now)
    assert backend.list_instances(middle) == []
    assert [i.frozen for i in backend.list_instances(newest)] == [True]

    # A request wakes both kinds: the removed one starts afresh, the frozen one thaws.
    scheduler.settings = scheduler.settings.model_copy(update={"spaces_memory_budget": "0"})
    deep = scheduler.wake(oldest)
    assert deep is not None and deep.id != first[oldest]
    thawed = scheduler.wake(newest)
    assert thawed is not None and thawed.id == first[newest]
    assert serves(routes, oldest) and serves(routes, newest)
