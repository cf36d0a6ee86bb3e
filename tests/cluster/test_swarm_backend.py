"""The Swarm backend under the real scheduler, on the test cluster: a Space is a service
on some node, confined as on one host, reached at node:port, swapped without downtime,
put to sleep by removal (no freezer on a swarm) and woken, adopted after a restart."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest
import redis

from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.testing import ProxyStandIn, settles
from podium.scheduler import get_backend
from podium.scheduler.reconcile import reconcile
from podium.scheduler.records import Desired
from podium.scheduler.service import Scheduler
from podium.scheduler.spec import RunSpec
from podium.scheduler.swarm import SwarmBackend
from podium.spaces.stage import Stage
from tests.cluster import hosts
from tests.conftest import build_image
from tests.integration.test_scheduler import APP

pytestmark = [pytest.mark.docker, pytest.mark.redis]

# The base image may predate /data in runners/base/Dockerfile: give the test image its own.
DOCKERFILE = """FROM {base}
USER root
RUN install -d -o 1000 -g 1000 /data
USER user
COPY app.py /app/app.py
WORKDIR /app
CMD ["python3", "-u", "/app/app.py"]
"""


@pytest.fixture(scope="module")
def app_image(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    ref = f"podium-test/swarm-app:{uuid.uuid4().hex[:10]}"
    build_image(docker_client, ref, {"Dockerfile": DOCKERFILE.format(base=base_image),
                                     "app.py": APP})
    yield ref
    docker_client.images.remove(ref, force=True)


def cluster_settings(settings: Settings, cluster: hosts.Cluster, **extra: str) -> Settings:
    return settings.model_copy(update={
        "scheduler_backend": "swarm", "swarm_host": cluster.manager.socket,
        "registry": cluster.registry, "registry_push": cluster.push_registry,
        "instance": f"t{uuid.uuid4().hex[:8]}", **extra})


@pytest.fixture
def swarm_settings(settings: Settings, cluster: hosts.Cluster) -> Settings:
    return cluster_settings(settings, cluster)


@pytest.fixture
def backend(swarm_settings: Settings) -> Iterator[SwarmBackend]:
    chosen = get_backend(swarm_settings)
    assert isinstance(chosen, SwarmBackend)
    yield chosen
    for instance in chosen.list_instances():
        chosen.remove(instance)


@pytest.fixture
def scheduler(swarm_settings: Settings, backend: SwarmBackend,
              redis_conn: redis.Redis) -> Scheduler:
    return Scheduler(swarm_settings, backend, ProxyStandIn(redis_conn), redis_conn, drain_s=0.2)


def make_spec(settings: Settings, image: str, *, commit: str = "c1", **env: str) -> RunSpec:
    space = SpaceId(f"s{uuid.uuid4().hex[:8]}", "Demo")
    return RunSpec.for_space(settings, space, image, app_port=7860, sdk="static", commit=commit,
                             variables=env, memory="256m", startup_timeout=90.0, pids=128,
                             cpus=0.5)


def get(upstream: str | None, path: str = "/") -> httpx.Response:
    assert upstream, "no upstream in the route"
    return httpx.get(upstream + path, timeout=5, trust_env=False)


def task_container(cluster: hosts.Cluster, backend: SwarmBackend,
                   service_id: str) -> tuple[hosts.Node, dict[str, object]]:
    """The node a service's task runs on and its container, inspected on that node."""
    task = backend.current_task(service_id)
    assert task is not None
    addr = backend.nodes.addr(task["NodeID"])
    node = next(n for n in cluster.nodes if n.addr == addr)
    cid = task["Status"]["ContainerStatus"]["ContainerID"]
    return node, json.loads(hosts.docker(node, "inspect", cid).stdout)[0]


def test_a_space_runs_as_a_confined_service_reached_on_its_node(
    cluster: hosts.Cluster, scheduler: Scheduler, backend: SwarmBackend,
    swarm_settings: Settings, app_image: str,
) -> None:
    spec = make_spec(swarm_settings, app_image, VERSION="v1")
    spec.secrets = {"HF_TOKEN": "s3cret"}
    instance = scheduler.deploy(spec)
    route = scheduler.routes.get(spec.key)
    assert route is not None and route.stage == Stage.RUNNING
    assert route.upstream == instance.upstream
    assert route.upstream.split("//")[1].split(":")[0] in {n.addr for n in cluster.nodes}
    assert get(route.upstream).text == f"v1 {spec.space_id}"
    assert get(route.upstream, "/data").text == "uid=1000 data=writable"
    assert "@sha256:" in instance.image and instance.image.startswith(cluster.registry)
    node, attrs = task_container(cluster, backend, instance.id)
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and attrs["Config"]["User"] == "1000:1000"
    assert host["PidsLimit"] == 128 and host["Memory"] == 256 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000 and host["Init"] is True
    assert "/var/run/docker.sock" not in str(attrs["Mounts"])
    assert "HF_TOKEN=s3cret" in attrs["Config"]["Env"]
    status = hosts.docker(node, "exec", attrs["Id"], "grep", "-E", "NoNewPrivs|CapEff",
                          "/proc/self/status").stdout
    assert "NoNewPrivs:\t1" in status and "CapEff:\t0000000000000000" in status


def test_redeploy_under_load_drops_no_request_then_sleep_removes_and_wake_starts_again(
    scheduler: Scheduler, backend: SwarmBackend, swarm_settings: Settings, app_image: str,
) -> None:
    spec = make_spec(swarm_settings, app_image, VERSION="v1")
    first = scheduler.deploy(spec)
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=5, trust_env=False) as client:
            while not stop.is_set():
                route = scheduler.routes.get(spec.key)  # per request, as the proxy does
                try:
                    answer = client.get(route.upstream)  # type: ignore[union-attr, arg-type]
                    answer.raise_for_status()
                    seen.append(answer.text.split()[0])
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        assert settles(lambda: "v1" in seen, 10), errors
        second = scheduler.deploy(_again(spec, "c2", VERSION="v2"))
        after = len(seen)
        assert settles(lambda: "v2" in seen[after:], 10), errors
    finally:
        stop.set()
        thread.join()
    assert errors == [] and "v1" in seen and seen[-1] == "v2"
    assert [i.id for i in backend.list_instances(spec.key)] == [second.id] != [first.id]
    assert scheduler.freeze_s == 0  # a swarm has no freezer: sleep is deep at once
    assert scheduler.sleep(spec.key)
    assert backend.list_instances(spec.key) == []
    assert scheduler.records.get(spec.key).desired is Desired.SLEEPING  # type: ignore[union-attr]
    woken = scheduler.wake(spec.key)
    assert woken is not None and get(woken.upstream).text.startswith("v2")


def _again(spec: RunSpec, commit: str, **env: str) -> RunSpec:
    from dataclasses import replace
    return replace(spec, commit=commit, env={**spec.env, **env})


def test_a_restarted_scheduler_adopts_every_service_without_duplicates(
    scheduler: Scheduler, backend: SwarmBackend, swarm_settings: Settings, app_image: str,
    redis_conn: redis.Redis,
) -> None:
    specs = [make_spec(swarm_settings, app_image) for _ in range(2)]
    for spec in specs:
        scheduler.deploy(spec)
    redis_conn.flushall()  # the records and routes are lost with the old scheduler
    again = Scheduler(swarm_settings, get_backend(swarm_settings), ProxyStandIn(redis_conn),
                      redis_conn, drain_s=0.2)
    report = reconcile(again)
    assert sorted(report.adopted) == sorted(s.key for s in specs) and report.removed == []
    for spec in specs:
        assert len(backend.list_instances(spec.key)) == 1
        route = again.routes.get(spec.key)
        assert route is not None and get(route.upstream).status_code == 200
