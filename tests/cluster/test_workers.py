"""Issue 12 item 3, builds on any node: a second `podium worker` runs inside a test node's
network namespace (another host, as far as the network goes) with that node's engine, a
data dir of its own (no Space repository there) and only the cluster network to the
platform: Redis, PostgreSQL, the registry and the git server on the host's cluster address.
It fetches each commit over smart HTTP with a one-build ticket, pulls the base image from
the registry, builds with walls around the platform's addresses and pushes to the registry;
the swarm runs the result. With both workers on the queue, two quick pushes of one Space
end with the newer commit deployed and the older one never deployed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from podium.config import Settings
from podium.names import SpaceId
from podium.services.redis_server import EmbeddedRedis, free_port
from podium.spaces.stage import BuildStatus, Stage
from tests.cluster import hosts
from tests.cluster.test_platform import create_and_push, instances
from tests.conftest import postgres_server, require
from tests.e2e.conftest import ADMIN_PASSWORD, CA_BUNDLE, Podium
from tests.e2e.conftest import localhost_resolver as localhost_resolver  # noqa: F401
from tests.platforms import platform_running, user_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]
REMOTE = "remote-n2"  # the rq worker name of the worker on the node
RUNNING = {Stage.RUNNING}


@dataclass
class TwoHosts:
    podium: Podium
    cluster: hosts.Cluster
    remote_log: Path

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.podium.settings.redis_url)

    def local_worker(self):  # type: ignore[no-untyped-def]
        supervisor = self.podium.started.supervisor
        return supervisor, next(c for c in supervisor.children if c.role == "worker")


def _start_remote_worker(settings: Settings, cluster: hosts.Cluster, node: hosts.Node,
                         data: Path) -> subprocess.Popen[bytes]:
    """`podium worker` as an operator starts it on another host (README "Run on a
    cluster", step 5): the platform's settings, a data dir of its own, no loopback push
    address, the platform's URL for sources, the node's engine."""
    env = {**os.environ, **settings.to_env(),
           "PODIUM_DATA_DIR": str(data), "PODIUM_REGISTRY_PUSH": "",
           "PODIUM_BUILD_SOURCE_URL": f"http://{cluster.host_addr}:{settings.public_port}",
           "DOCKER_HOST": node.socket}
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "worker.log", "ab") as log:
        return subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{node.name}", sys.executable, "-m", "podium",
             "worker", "--name", REMOTE],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The worker (rq: a warm shutdown, the job running finishes) and, if it does not end,
    its work horse, which rq puts in a process group of its own."""
    horses = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    children = horses.read_text().split() if horses.exists() else []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)  # nothing is building by now
    except subprocess.TimeoutExpired:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        process.kill()
        process.wait()


def _wait_base_in_registry(cluster: hosts.Cluster, base_image: str) -> None:
    """The platform's own worker shares the base image through the registry at its start."""
    repository, _, tag = base_image.rpartition(":")
    url = f"http://{cluster.push_registry}/v2/{repository}/tags/list"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = httpx.get(url, timeout=5)
        if answer.status_code == 200 and tag in (answer.json().get("tags") or []):
            return
        time.sleep(0.5)
    pytest.fail(f"the base image never reached the registry ({url})")


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory, cluster: hosts.Cluster,
              base_image: str) -> Iterator[TwoHosts]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    data = tmp_path_factory.mktemp("podium-workers")
    subnet = f"{hosts.SUBNET_BASE}.{cluster.subnet}.0/24"
    # Redis and PostgreSQL on the host's cluster address only, as on a real manager.
    with EmbeddedRedis(data / "redis", host=cluster.host_addr,
                       password=uuid.uuid4().hex) as server, \
            postgres_server(cluster.host_addr, clients=subnet) as database_url:
        settings = Settings(
            data_dir=data / "platform", redis_url=server.url, database_url=database_url,
            public_port=free_port(), api_port=free_port(), admin_password=ADMIN_PASSWORD,
            ca_bundle=CA_BUNDLE, base_image=base_image, instance=f"w{uuid.uuid4().hex[:8]}",
            scheduler_backend="swarm", swarm_host=cluster.manager.socket,
            registry=cluster.registry, registry_push=cluster.push_registry,
            max_concurrent_builds=2,  # one build per host at once
        )
        remote = None
        try:
            with platform_running(settings, None) as started:
                podium = Podium(started, user_token(started.settings, settings.admin_user))
                _wait_base_in_registry(cluster, base_image)
                remote = _start_remote_worker(started.settings, cluster, cluster.nodes[1],
                                              data / "remote")
                yield TwoHosts(podium, cluster, data / "remote" / "worker.log")
        finally:
            if remote is not None:
                _stop(remote)
            from podium.scheduler import get_backend

            backend = get_backend(settings)
            for instance in backend.list_instances():
                backend.remove(instance)


def _builds(podium: Podium, space: SpaceId) -> list:  # type: ignore[type-arg]
    from podium.controller.platform import Platform
    from podium.store import builds as store_builds
    from podium.store import find_space

    platform = Platform(podium.settings)
    try:
        with platform.db.session() as session:
            found = find_space(session, space)
            assert found is not None
            rows = store_builds.list_builds(session, found)
            session.expunge_all()
            return rows
    finally:
        platform.close()


def _fail_with_log(two: TwoHosts, why: str) -> None:
    tail = two.remote_log.read_text(errors="replace")[-3000:] if two.remote_log.exists() else ""
    pytest.fail(f"{why}\n--- remote worker log ---\n{tail}")


# A Docker Space FROM the base image (no package index needed) whose RUN step, on the
# node's build bridge, tries the platform's Redis and PostgreSQL over the cluster network:
# the build fails if either answers, or if a fetch ticket is in its environment.
DOCKERFILE = """FROM {base}
COPY probe.py /probe.py
RUN python3 /probe.py
COPY index.html /srv/index.html
CMD ["python3", "-m", "http.server", "7860", "--directory", "/srv"]
"""
PROBE = """import os, socket, sys
assert not any("pbt_" in v for v in os.environ.values()), "a fetch ticket in the build"
for target in {targets!r}:
    probe = socket.socket()
    probe.settimeout(3)
    code = probe.connect_ex(target)
    print("probe", target, "REACHED" if code == 0 else f"walled off (errno {{code}})")
    if code == 0:
        sys.exit(f"a build step reached the platform at {{target}}")
"""
README = "---\ntitle: Remote\nsdk: docker\napp_port: 7860\n---\n"


def _push_probe_space(two: TwoHosts, space: SpaceId, workdir: Path) -> None:
    settings = two.podium.settings
    targets = [(two.cluster.host_addr, urlsplit(url).port)
               for url in (settings.redis_url, settings.database_url)]
    with two.podium.client() as api:
        created = api.post("/api/spaces", json={"name": space.name, "sdk": "docker"})
        assert created.status_code == 201, created.text
    workdir.mkdir()
    (workdir / "README.md").write_text(README)
    (workdir / "Dockerfile").write_text(DOCKERFILE.format(base=settings.base_image))
    (workdir / "probe.py").write_text(PROBE.format(targets=targets))
    (workdir / "index.html").write_text(f"<h1>{space}</h1>")
    two.podium.push(space, workdir, "first version")


def test_a_worker_on_a_node_builds_a_pushed_space_that_then_runs(
    two_hosts: TwoHosts, tmp_path: Path,
) -> None:
    podium = two_hosts.podium
    supervisor, local = two_hosts.local_worker()
    local.stop()  # only the node's worker serves the queue now
    space = SpaceId("admin", "built-remotely")
    try:
        _push_probe_space(two_hosts, space, tmp_path / "probe")
        try:
            podium.wait_stage(space, RUNNING, timeout=300)
        except pytest.fail.Exception:
            _fail_with_log(two_hosts, f"{space} did not run: {_builds(podium, space)[0].log}")
    finally:
        local.start(supervisor.env)
    [build] = _builds(podium, space)
    assert build.status == BuildStatus.SUCCEEDED
    assert f"on worker {REMOTE} " in build.log, build.log  # the node's worker built it
    assert f"from http://{two_hosts.cluster.host_addr}:" in build.log  # over smart HTTP
    assert build.log.count("walled off") == 2, build.log
    [instance] = instances(podium, space)
    assert instance.image.startswith(f"{two_hosts.cluster.registry}/")
    page = httpx.get(podium.space_host_url(space), timeout=30)
    assert page.status_code == 200 and str(space) in page.text
    # The ticket served its one fetch: none is left to use.
    assert not two_hosts.redis.keys("podium:builds:fetch-ticket:*")


def _wait_deployed(podium: Podium, space: SpaceId, sha: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    runtime: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        runtime = podium.runtime(space)
        if runtime["stage"] == Stage.RUNNING and runtime.get("sha") == sha:
            return
        time.sleep(0.5)
    pytest.fail(f"{space} never ran {sha[:12]}: {runtime}")


def _all_final(podium: Podium, space: SpaceId, timeout: float = 120) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _builds(podium, space)
        if all(BuildStatus(b.status).is_final for b in found):
            return found
        time.sleep(0.5)
    pytest.fail(f"builds of {space} still running: {[b.status for b in found]}")


def _wait_two_workers(two: TwoHosts, timeout: float = 60) -> None:
    """The platform's worker and the node's, both on the build queue."""
    from rq import Worker

    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        queue = two.podium.settings.queue_name
        names = [w.name for w in Worker.all(connection=two.redis)
                 if queue in w.queue_names()]
        if len(names) == 2 and REMOTE in names:
            return
        time.sleep(0.5)
    pytest.fail(f"workers on the queue: {names}")


def test_two_quick_pushes_on_two_workers_deploy_the_newer_only(
    two_hosts: TwoHosts, tmp_path: Path,
) -> None:
    from podium.builds.logs import read_build_log

    podium = two_hosts.podium
    _wait_two_workers(two_hosts)
    space = SpaceId("admin", "two-pushes")
    create_and_push(podium, space, "static", tmp_path)
    workdir = tmp_path / space.name
    (workdir / "index.html").write_text("<h1>the newer commit</h1>")
    podium.push(space, workdir, "second version")  # at once: the first is queued or building
    git = ["git", "-C", str(workdir), "rev-parse"]
    older_sha, newer_sha = (subprocess.run([*git, rev], check=True, capture_output=True,
                                           text=True).stdout.strip() for rev in ("HEAD~1", "HEAD"))
    _wait_deployed(podium, space, newer_sha)
    builds = {b.commit: b for b in _all_final(podium, space)}
    older, newer = builds[older_sha], builds[newer_sha]
    took = {name: next((line for line in (b.log or "").splitlines() if " on worker " in line),
                       "never started") for name, b in (("older", older), ("newer", newer))}
    print(f"older build {older.status}, newer build {newer.status}; {took}")

    conn = two_hosts.redis
    # The route switch (the runtime's sha, RUNNING) comes before the stream's `ready`,
    # which follows once the app answers through the proxy: wait for the stream's end.
    deadline = time.monotonic() + 60
    while not any(e.is_terminal for e in read_build_log(conn, str(newer.id))):
        assert time.monotonic() < deadline, "the newer build's stream never ended"
        time.sleep(0.2)
    older_events, newer_events = (read_build_log(conn, str(b.id)) for b in (older, newer))
    assert any(e.is_ready for e in newer_events)
    assert not any(e.is_ready for e in older_events)  # never deployed, whoever built it
    [ended] = [e for e in older_events if e.is_terminal]
    assert (older.status == BuildStatus.SUPERSEDED  # still queued when the newer push came
            or "newer build replaced it" in (ended.reason or "")), (older.status, ended)
    page = httpx.get(podium.space_host_url(space), timeout=30)
    assert page.status_code == 200 and "the newer commit" in page.text
