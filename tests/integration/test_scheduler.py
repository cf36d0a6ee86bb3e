"""The scheduler against the real Docker engine and a real Redis: blue/green deploys under
load, failures that keep the old version serving, limits and isolation, reconciliation,
sleep/wake/pause. One tiny image (FROM the offline base) behaves as told by $MODE."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import redis

from podium.config import Settings
from podium.errors import SpaceRuntimeError
from podium.keys import metrics as metric_keys
from podium.metrics.catalog import DEPLOY, WAKE, Metric
from podium.metrics.recorder import COUNT, histogram_field
from podium.names import SpaceId
from podium.proxy.testing import ProxyStandIn, settles
from podium.routes import RouteTable
from podium.scheduler.docker import DockerBackend
from podium.scheduler.loop import run_forever
from podium.scheduler.reconcile import reconcile
from podium.scheduler.records import Desired
from podium.scheduler.service import Scheduler
from podium.scheduler.spec import RunSpec
from podium.scheduler.usage import space_usage
from podium.spaces.stage import Stage
from tests.conftest import build_image, require

pytestmark = [pytest.mark.docker, pytest.mark.redis]

APP = r'''
import http.server, os, socket, sys, time

mode = os.environ.get("MODE", "serve")
port = int(os.environ.get("PORT", "7860"))
print(f"starting mode={mode}", flush=True)
if mode == "crash":
    print("fatal: missing HF_TOKEN", flush=True)
    sys.exit(3)
if mode == "silent":
    time.sleep(3600)
if mode == "oom":
    hoard = []
    while True:
        hoard.append(bytearray(16 << 20))
if mode == "probe":
    host, target = os.environ["PROBE_HOST"], int(os.environ["PROBE_PORT"])
    if host == "gateway":  # the host, as seen from whichever network we are on
        for row in open("/proc/net/route").read().splitlines()[1:]:
            fields = row.split()
            if fields[1] == "00000000":
                host = socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    try:
        with socket.create_connection((host, target), timeout=3) as conn:
            conn.sendall(b"PING\r\n")
            print("PROBE-CONNECTED", conn.recv(64), flush=True)
    except OSError as exc:
        print("PROBE-BLOCKED", exc, flush=True)
    sys.exit(0)
time.sleep(float(os.environ.get("SLOW_START", "0")))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/data":
            with open("/data/probe", "w") as fh:
                fh.write("ok")
            body = f"uid={os.getuid()} data=writable"
        else:
            body = f"{os.environ.get('VERSION', '?')} {os.environ.get('SPACE_ID')}"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
'''

DOCKERFILE = """FROM {base}
COPY app.py /app/app.py
WORKDIR /app
LABEL podium.sdk=static podium.app_port=7860
CMD ["python3", "-u", "/app/app.py"]
"""


@pytest.fixture(scope="module")
def app_image(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    ref = f"podium-test/sched-app:{uuid.uuid4().hex[:10]}"
    build_image(docker_client, ref, {"Dockerfile": DOCKERFILE.format(base=base_image),
                                     "app.py": APP})
    yield ref
    docker_client.images.remove(ref, force=True)


@pytest.fixture
def backend(settings: Settings, docker_client: docker.DockerClient) -> DockerBackend:
    require(shutil.which("iptables") is not None, "iptables is not installed")
    return DockerBackend(settings, docker_client, scope=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def routes(redis_conn: redis.Redis) -> ProxyStandIn:
    return ProxyStandIn(redis_conn)


@pytest.fixture
def scheduler(
    settings: Settings, backend: DockerBackend, routes: RouteTable, redis_conn: redis.Redis
) -> Iterator[Scheduler]:
    sched = Scheduler(settings, backend, routes, redis_conn, drain_s=0.5)
    yield sched
    for instance in backend.list_instances():
        backend.remove(instance)


@pytest.fixture
def space(backend: DockerBackend) -> Iterator[SpaceId]:
    space_id = SpaceId(f"t{uuid.uuid4().hex[:8]}", "Demo_App")
    yield space_id
    for instance in backend.list_instances():
        backend.remove(instance)
    backend.remove_volume(space_id)


def make_spec(
    settings: Settings, space: SpaceId, image: str, *, commit: str = "c1", **env: str
) -> RunSpec:
    return RunSpec.for_space(
        settings, space, image, app_port=7860, sdk="static", commit=commit,
        variables=env, memory="256m", startup_timeout=20.0, pids=128, cpus=0.5,
    )


def get(upstream: str | None, path: str = "/") -> httpx.Response:
    assert upstream, "no upstream in the route"
    return httpx.get(upstream + path, timeout=5, trust_env=False)


def test_deploy_serves_through_the_route_with_spaces_env(
    scheduler: Scheduler, routes: RouteTable, space: SpaceId, settings: Settings,
    app_image: str,
) -> None:
    stages: list[Stage] = []
    instance = scheduler.deploy(
        make_spec(settings, space, app_image, VERSION="v1"), lambda s, _d: stages.append(s)
    )
    route = routes.get(space.key)
    assert route is not None and route.stage == Stage.RUNNING
    assert route.upstream == instance.upstream and route.subdomain == space.subdomain
    assert get(route.upstream).text == f"v1 {space}"
    assert stages == [Stage.APP_STARTING, Stage.RUNNING]
    # /data is the Space's volume and belongs to the app's uid.
    assert get(route.upstream, "/data").text == "uid=1000 data=writable"


def test_container_runs_confined(
    scheduler: Scheduler, backend: DockerBackend, space: SpaceId, settings: Settings,
    app_image: str, docker_client: docker.DockerClient,
) -> None:
    spec = make_spec(settings, space, app_image)
    spec.secrets = {"HF_TOKEN": "s3cret"}
    instance = scheduler.deploy(spec)
    attrs = docker_client.containers.get(instance.id).attrs
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert attrs["Config"]["User"] == "1000:1000"
    assert host["PidsLimit"] == 128
    assert host["Memory"] == 256 * 1024 * 1024 == host["MemorySwap"]
    assert host["NanoCpus"] == 500_000_000
    assert "/var/run/docker.sock" not in str(attrs["Mounts"])
    assert list(attrs["NetworkSettings"]["Networks"]) == ["podium-spaces"]
    assert "HF_TOKEN=s3cret" in attrs["Config"]["Env"]
    # ...but the secret never reaches Redis.
    raw = scheduler.records.redis.hget(f"podium:sched:space:{space.key}", "spec")
    assert raw is not None and b"s3cret" not in raw and b"HF_TOKEN" not in raw


def test_redeploy_under_load_drops_no_request(
    scheduler: Scheduler, routes: RouteTable, space: SpaceId, settings: Settings,
    app_image: str, backend: DockerBackend,
) -> None:
    first = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=5, trust_env=False) as client:
            while not stop.is_set():
                route = routes.get(space.key)  # resolved per request, as the proxy does
                try:
                    answer = client.get(route.upstream)  # type: ignore[union-attr, arg-type]
                    answer.raise_for_status()
                    seen.append(answer.text.split()[0])
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        # Waited for, not slept on: the swap must start with v1 answering the hammer and
        # end with v2 answering it.
        assert settles(lambda: "v1" in seen, 10), errors
        stages: list[Stage] = []
        second = scheduler.deploy(
            make_spec(settings, space, app_image, commit="c2", VERSION="v2", SLOW_START="1"),
            lambda s, _d: stages.append(s),
        )
        after = len(seen)
        assert settles(lambda: "v2" in seen[after:], 10), errors
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert "v1" in seen and seen[-1] == "v2"
    assert stages == [Stage.RUNNING_APP_STARTING, Stage.RUNNING]
    assert [i.id for i in backend.list_instances(space.key)] == [second.id]
    assert backend.refresh(first.id) is None


def test_old_version_serves_its_open_streams_until_they_close(
    settings: Settings, backend: DockerBackend, routes: RouteTable, redis_conn: redis.Redis,
    space: SpaceId, app_image: str,
) -> None:
    # A Gradio queue stream or a Streamlit session opened before a swap stays on the old
    # version: it is stopped when its streams close (here) or after drain_timeout.
    settings = settings.model_copy(update={"drain_timeout": 60.0})
    scheduler = Scheduler(settings, backend, routes, redis_conn, drain_s=0.2)
    first = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    routes.stream_opened(space.key, first.upstream)
    deployed: list[str] = []
    thread = threading.Thread(target=lambda: deployed.append(scheduler.deploy(
        make_spec(settings, space, app_image, commit="c2", VERSION="v2")).id))
    thread.start()
    try:
        assert settles(
            lambda: getattr(routes.get(space.key), "upstream", None) not in (None, first.upstream),
            30)
        time.sleep(1.5)  # well past drain_s: only the open stream keeps v1
        assert get(first.upstream).text.startswith("v1")  # type: ignore[arg-type]
        # A stream to the *new* version does not hold the old one.
        route = routes.get(space.key)
        assert route is not None
        routes.stream_opened(space.key, route.upstream)
        assert backend.refresh(first.id) is not None
    finally:
        routes.stream_closed(space.key, first.upstream)
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert [i.id for i in backend.list_instances(space.key)] == deployed
    assert backend.refresh(first.id) is None


def test_old_version_is_cut_after_drain_timeout(
    settings: Settings, backend: DockerBackend, routes: RouteTable, redis_conn: redis.Redis,
    space: SpaceId, app_image: str,
) -> None:
    settings = settings.model_copy(update={"drain_timeout": 1.0})
    scheduler = Scheduler(settings, backend, routes, redis_conn, drain_s=0.2)
    first = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    routes.stream_opened(space.key, first.upstream)  # never closed: a tab left open
    second = scheduler.deploy(make_spec(settings, space, app_image, commit="c2", VERSION="v2"))
    assert [i.id for i in backend.list_instances(space.key)] == [second.id]


def test_scheduler_waits_for_data_planes_to_apply_a_route_change(
    settings: Settings, backend: DockerBackend, routes: RouteTable, redis_conn: redis.Redis,
    space: SpaceId, app_image: str,
) -> None:
    # An nginx serving the old table would still send requests to the container: it is
    # frozen only once every live data plane reports the new generation.
    scheduler = Scheduler(settings, backend, routes, redis_conn, drain_s=0.1)
    spec = make_spec(settings, space, app_image, VERSION="v1")
    spec.sleep_time = 60
    scheduler.deploy(spec)
    routes.mark_applied("plane-test", routes.generation())
    slept: list[bool] = []
    thread = threading.Thread(target=lambda: slept.append(scheduler.sleep(space.key)))
    thread.start()
    try:
        assert settles(lambda: getattr(routes.get(space.key), "stage", None) == Stage.SLEEPING,
                       10)
        time.sleep(1.0)
        assert thread.is_alive() and slept == []  # still waiting for plane-test
        assert all(i.running for i in backend.list_instances(space.key))
        routes.mark_applied("plane-test", routes.generation())
        thread.join(timeout=15)
    finally:
        routes.forget_plane("plane-test")
        thread.join(timeout=15)
    assert slept == [True]


def test_crashing_new_version_keeps_the_old_one_serving(
    scheduler: Scheduler, routes: RouteTable, space: SpaceId, settings: Settings,
    app_image: str, backend: DockerBackend,
) -> None:
    first = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    reports: list[tuple[Stage, str | None]] = []
    with pytest.raises(SpaceRuntimeError) as caught:
        scheduler.deploy(
            make_spec(settings, space, app_image, commit="c2", MODE="crash"),
            lambda s, d: reports.append((s, d)),
        )
    assert caught.value.exit_code == 3 and not caught.value.oom_killed
    assert "fatal: missing HF_TOKEN" in caught.value.last_lines
    assert reports[-1][0] == Stage.RUNNING and "exited with code 3" in (reports[-1][1] or "")
    route = routes.get(space.key)
    assert route is not None and route.upstream == first.upstream
    assert get(route.upstream).text.startswith("v1")
    assert [i.id for i in backend.list_instances(space.key)] == [first.id]


def test_crash_with_nothing_running_is_runtime_error(
    scheduler: Scheduler, routes: RouteTable, space: SpaceId, settings: Settings,
    app_image: str, backend: DockerBackend,
) -> None:
    reports: list[tuple[Stage, str | None]] = []
    with pytest.raises(SpaceRuntimeError):
        scheduler.deploy(
            make_spec(settings, space, app_image, MODE="crash"),
            lambda s, d: reports.append((s, d)),
        )
    stage, detail = reports[-1]
    assert stage == Stage.RUNTIME_ERROR and "fatal: missing HF_TOKEN" in (detail or "")
    route = routes.get(space.key)
    assert route is not None and route.stage == Stage.RUNTIME_ERROR and route.upstream is None
    assert backend.list_instances(space.key) == []


def test_never_listening_app_times_out(
    scheduler: Scheduler, space: SpaceId, settings: Settings, app_image: str,
    backend: DockerBackend,
) -> None:
    spec = make_spec(settings, space, app_image, MODE="silent")
    spec.startup_timeout = 2.0
    with pytest.raises(SpaceRuntimeError) as caught:
        scheduler.deploy(spec)
    assert "did not answer HTTP on port 7860" in caught.value.message
    assert caught.value.exit_code is None
    assert backend.list_instances(space.key) == []


def test_out_of_memory_is_flagged(
    scheduler: Scheduler, space: SpaceId, settings: Settings, app_image: str,
) -> None:
    spec = make_spec(settings, space, app_image, MODE="oom")
    spec.memory = "64m"
    with pytest.raises(SpaceRuntimeError) as caught:
        scheduler.deploy(spec)
    assert caught.value.oom_killed
    assert "out of memory" in caught.value.message


def _probe(
    backend: DockerBackend, settings: Settings, space: SpaceId, image: str, host: str,
    port: int,
) -> str:
    """Run the app in probe mode (with the Space's confinement) and return its verdict."""
    spec = make_spec(
        settings, space, image, MODE="probe", PROBE_HOST=host, PROBE_PORT=str(port)
    )
    instance = backend.start(spec)
    try:
        backend.client.containers.get(instance.id).wait(timeout=30)
        return "\n".join(backend.logs(instance))
    finally:
        backend.remove(instance)


def _on_default_bridge(backend: DockerBackend) -> DockerBackend:
    """The same confinement, but on Docker's default bridge without Podium's firewall."""
    return DockerBackend(
        backend.settings, backend.client, network="bridge", isolate=False, scope=backend.scope
    )


@pytest.fixture
def exposed_redis(tmp_path: Path) -> Iterator[int]:
    """A redis-server on 0.0.0.0 (as a careless operator might run it)."""
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--bind", "0.0.0.0", "--port", str(port), "--protected-mode", "no",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_spaces_cannot_reach_host_services(
    backend: DockerBackend, settings: Settings, space: SpaceId, app_image: str,
    exposed_redis: int,
) -> None:
    backend.ensure_network()
    # Control: from Docker's default bridge the exposed Redis answers, so a block below is
    # the firewall's doing and not a broken probe.
    control = _probe(_on_default_bridge(backend), settings, space, app_image, "gateway",
                     exposed_redis)
    assert "PROBE-CONNECTED" in control and "PONG" in control
    verdict = _probe(backend, settings, space, app_image, "gateway", exposed_redis)
    assert "PROBE-BLOCKED" in verdict
    assert "PROBE-BLOCKED" in _probe(
        backend, settings, space, app_image, backend.gateway(), exposed_redis
    )


def test_spaces_still_reach_the_internet(
    backend: DockerBackend, settings: Settings, space: SpaceId, app_image: str,
) -> None:
    backend.ensure_network()
    control = _probe(_on_default_bridge(backend), settings, space, app_image, "pypi.org", 443)
    require("PROBE-CONNECTED" in control, f"no internet from Docker's bridge: {control}")
    assert "PROBE-CONNECTED" in _probe(backend, settings, space, app_image, "pypi.org", 443)


def test_reconcile_after_restart_adopts_and_removes_duplicates(
    scheduler: Scheduler, backend: DockerBackend, routes: RouteTable, space: SpaceId,
    settings: Settings, app_image: str, redis_conn: redis.Redis,
) -> None:
    instance = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    # A crashed controller may leave a second copy behind (e.g. mid blue/green).
    stray = backend.start(make_spec(settings, space, app_image, commit="c0", VERSION="v0"))
    backend.wait_healthy(stray, 20)
    redis_conn.delete(routes.keys.routes, routes.keys.subdomains)

    fresh = Scheduler(settings, backend, RouteTable(redis_conn), redis_conn)
    report = reconcile(fresh)
    assert report.adopted == [space.key]
    survivors = backend.list_instances(space.key)
    assert len(survivors) == 1 and survivors[0].id in {instance.id, stray.id}
    route = routes.by_subdomain(space.subdomain)
    assert route is not None and route.stage == Stage.RUNNING
    assert route.upstream == survivors[0].upstream
    assert get(route.upstream).status_code == 200
    # Idempotent: a second pass changes nothing.
    again = reconcile(fresh)
    assert again.removed == [] and [i.id for i in backend.list_instances(space.key)] == [
        survivors[0].id
    ]


def test_reconcile_with_redis_lost_rebuilds_from_labels(
    scheduler: Scheduler, backend: DockerBackend, routes: RouteTable, space: SpaceId,
    settings: Settings, app_image: str, redis_conn: redis.Redis,
) -> None:
    instance = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    redis_conn.flushall()
    reconcile(Scheduler(settings, backend, RouteTable(redis_conn), redis_conn))
    route = routes.get(space.key)
    assert route is not None and route.upstream == instance.upstream
    assert (route.owner, route.name) == (space.owner, space.name)


def test_reconcile_reports_crashed_and_vanished_containers(
    scheduler: Scheduler, backend: DockerBackend, routes: RouteTable, space: SpaceId,
    settings: Settings, app_image: str, docker_client: docker.DockerClient,
) -> None:
    other = SpaceId(space.owner, "other")
    crashed = scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    vanished = scheduler.deploy(make_spec(settings, other, app_image, VERSION="v1"))
    docker_client.containers.get(crashed.id).kill()  # died while no controller watched
    backend.remove(vanished)
    changes: list[tuple[str, Stage]] = []
    fresh = Scheduler(settings, backend, routes, scheduler.records.redis,
                      on_change=lambda key, stage, _d: changes.append((key, stage)))
    report = reconcile(fresh)
    assert report.failed == [space.key] and report.missing == [other.key]
    assert sorted(changes) == sorted(
        [(space.key, Stage.RUNTIME_ERROR), (other.key, Stage.SLEEPING)]
    )
    assert routes.get(space.key).stage == Stage.RUNTIME_ERROR  # type: ignore[union-attr]
    assert fresh.wake(space.key) is None  # a failed Space waits for a restart
    assert fresh.wake(other.key) is not None  # a vanished one starts afresh
    assert get(routes.get(other.key).upstream).text.startswith("v1")  # type: ignore[union-attr]
    fresh.remove(other.key, delete_volume=True)


def test_sleep_freezes_then_stops_and_wakes_and_pause_does_not(
    scheduler: Scheduler, backend: DockerBackend, routes: RouteTable, space: SpaceId,
    settings: Settings, app_image: str, redis_conn: redis.Redis,
) -> None:
    spec = make_spec(settings, space, app_image, VERSION="v1")
    spec.sleep_time = 60
    first = scheduler.deploy(spec)
    assert timed(redis_conn, DEPLOY, "first") == 1  # the metrics (podium.metrics)
    cpu, memory = space_usage(backend)[space.key]
    assert cpu > 0 and memory > 0
    now = time.time()
    routes.touch(space.key, now=now)
    assert scheduler.idle_check(now + 30) == []

    routes.stream_opened(space.key)
    routes.heartbeat(now + 90)
    assert scheduler.idle_check(now + 90) == []  # an open websocket keeps it awake
    routes.stream_closed(space.key)

    # Light sleep: frozen, no upstream; a wake thaws the same container.
    assert scheduler.idle_check(now + 90) == [space.key]
    route = routes.get(space.key)
    assert route is not None and route.stage == Stage.SLEEPING and route.upstream is None
    [frozen] = backend.list_instances(space.key)
    assert frozen.frozen and not frozen.running
    woken = scheduler.wake(space.key)
    assert woken is not None and woken.id == first.id
    assert (timed(redis_conn, WAKE, "light"), timed(redis_conn, WAKE, "deep")) == (1, 0)
    route = routes.get(space.key)
    assert route is not None and route.stage == Stage.RUNNING
    assert get(route.upstream).text.startswith("v1")

    # Deep sleep: idle for its sleep time, the container goes; a wake starts afresh.
    # (freeze_after shorter than the sleep time: frozen first, removed at sleep_time.)
    scheduler.settings = settings.model_copy(update={"freeze_after": 10})
    woke = time.time()
    assert scheduler.idle_check(woke + 11) == [space.key]
    scheduler.idle_check(woke + spec.sleep_time - 1)
    assert [i.frozen for i in backend.list_instances(space.key)] == [True]
    scheduler.idle_check(woke + spec.sleep_time + 1)
    assert backend.list_instances(space.key) == []
    assert routes.get(space.key).stage == Stage.SLEEPING  # type: ignore[union-attr]
    woken = scheduler.wake(space.key)
    assert woken is not None and woken.id != first.id
    assert (timed(redis_conn, WAKE, "light"), timed(redis_conn, WAKE, "deep")) == (1, 1)
    route = routes.get(space.key)
    assert route is not None and route.stage == Stage.RUNNING
    assert get(route.upstream).text.startswith("v1")

    scheduler.pause(space.key)
    assert scheduler.wake(space.key) is None
    route = routes.get(space.key)
    assert route is not None and route.stage == Stage.PAUSED and route.upstream is None
    assert backend.list_instances(space.key) == []
    record = scheduler.records.get(space.key)
    assert record is not None and record.desired is Desired.PAUSED


def timed(conn: redis.Redis, metric: Metric, label: str) -> float:
    """How many times the scheduler recorded ``metric`` with this label."""
    raw = conn.hget(metric_keys.series(metric.name), histogram_field((label,), COUNT))
    return float(raw or 0)


def test_sleep_without_freezing_removes_and_wake_takes_current_secrets(
    settings: Settings, backend: DockerBackend, routes: RouteTable, space: SpaceId,
    app_image: str, redis_conn: redis.Redis, docker_client: docker.DockerClient,
) -> None:
    secrets = {"HF_TOKEN": "old"}
    scheduler = Scheduler(settings, backend, routes, redis_conn, drain_s=0, freeze_s=0,
                          secrets_provider=lambda _key: dict(secrets))
    spec = make_spec(settings, space, app_image, VERSION="v1")
    scheduler.deploy(spec.with_secrets(secrets))
    assert scheduler.sleep(space.key)
    assert backend.list_instances(space.key) == []
    secrets["HF_TOKEN"] = "rotated"
    woken = scheduler.wake(space.key)
    assert woken is not None
    assert "HF_TOKEN=rotated" in docker_client.containers.get(woken.id).attrs["Config"]["Env"]
    assert get(routes.get(space.key).upstream).text.startswith("v1")  # type: ignore[union-attr]


class NoDeploys:
    """No build asks for a deploy here: the test is about wakes."""

    nudge_key = "podium:test:no-deploy-nudges"

    def pending(self) -> list[str]:
        return []

    def run(self, space_key: str) -> object:
        return None


def test_wake_requests_are_served_by_the_loop(
    scheduler: Scheduler, routes: RouteTable, space: SpaceId, settings: Settings,
    app_image: str,
) -> None:
    scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    assert scheduler.sleep(space.key)
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(scheduler, stop), kwargs={
        "idle_every": 3600, "reconcile_every": 3600, "deploys": NoDeploys(),
    })
    loop.start()
    try:
        routes.request_wake(space.key)
        route = routes.get(space.key)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (route and route.stage == Stage.RUNNING):
            time.sleep(0.1)
            route = routes.get(space.key)
    finally:
        stop.set()
        loop.join(30)
    assert route is not None and route.stage == Stage.RUNNING
    assert get(route.upstream).text.startswith("v1")


def test_stream_logs_and_remove(
    scheduler: Scheduler, backend: DockerBackend, routes: RouteTable, space: SpaceId,
    settings: Settings, app_image: str, docker_client: docker.DockerClient,
) -> None:
    scheduler.deploy(make_spec(settings, space, app_image, VERSION="v1"))
    lines = list(scheduler.stream_logs(space.key, follow=False))
    assert "starting mode=serve" in lines
    volume = space.data_volume(backend.scope)
    assert volume != space.data_volume()  # scoped: a real install's data stays apart
    assert backend.storage.has_data(space)  # /data is the Space's quota image
    scheduler.remove(space.key, delete_volume=True)
    assert routes.get(space.key) is None and backend.list_instances(space.key) == []
    assert not backend.storage.has_data(space)
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(volume)
