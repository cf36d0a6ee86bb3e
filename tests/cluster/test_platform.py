"""The whole platform on the test cluster, started as `podium up` starts it but with
PODIUM_SCHEDULER_BACKEND=swarm: a git push builds on the host, the worker pushes the image
to the registry, a node pulls it by digest, and the nginx proxy on the host serves the
Space from that node by host name; several Spaces spread over the nodes; sleep to zero
and wake on a request."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from podium.config import Settings
from podium.names import SpaceId
from podium.resources import templates_dir
from podium.services.redis_server import free_port
from podium.spaces.stage import Stage
from tests.cluster import hosts
from tests.conftest import require
from tests.e2e.conftest import ADMIN_PASSWORD, CA_BUNDLE, Podium
from tests.e2e.conftest import localhost_resolver as localhost_resolver  # noqa: F401
from tests.platforms import platform_running, user_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]
RUNNING = {Stage.RUNNING}


@pytest.fixture(scope="module")
def podium_swarm(tmp_path_factory: pytest.TempPathFactory, cluster: hosts.Cluster,
                 base_image: str) -> Iterator[Podium]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    data = tmp_path_factory.mktemp("podium-swarm")
    settings = Settings(
        data_dir=data, redis_url="", database_url="", public_port=free_port(),
        api_port=free_port(), admin_password=ADMIN_PASSWORD, ca_bundle=CA_BUNDLE,
        base_image=base_image, instance=f"c{uuid.uuid4().hex[:8]}",
        scheduler_backend="swarm", swarm_host=cluster.manager.socket,
        registry=cluster.registry, registry_push=cluster.push_registry,
    )
    try:
        with platform_running(settings, None) as started:
            yield Podium(started, user_token(started.settings, settings.admin_user))
    finally:
        from podium.scheduler import get_backend

        backend = get_backend(settings)
        for instance in backend.list_instances():
            backend.remove(instance)


STATIC_README = "---\ntitle: Spread\nsdk: static\napp_file: index.html\n---\n"


def create_and_push(podium: Podium, space: SpaceId, template: str, tmp: Path) -> None:
    sdk = "static" if template == "static" else template.split("-")[0]
    with podium.client() as api:
        created = api.post("/api/spaces", json={"name": space.name, "sdk": sdk})
        assert created.status_code == 201, created.text
    workdir = tmp / space.name
    if template == "static":
        workdir.mkdir()
        (workdir / "README.md").write_text(STATIC_README)
        (workdir / "index.html").write_text(f"<h1>{space}</h1>")
    else:
        shutil.copytree(templates_dir() / template, workdir)
    podium.push(space, workdir, "first version")


def instances(podium: Podium, space: SpaceId) -> list:  # type: ignore[type-arg]
    from podium.scheduler import get_backend

    return get_backend(podium.settings).list_instances(space.key)


def upstream_node(podium: Podium, cluster: hosts.Cluster, space: SpaceId) -> hosts.Node:
    from podium.controller.platform import Platform

    platform = Platform(podium.settings)
    try:
        route = platform.scheduler.routes.get(space.key)
    finally:
        platform.close()
    assert route is not None and route.upstream
    return next(n for n in cluster.nodes if f"//{n.addr}:" in route.upstream)


def test_a_pushed_gradio_space_runs_on_a_node_and_is_served_through_the_proxy(
    podium_swarm: Podium, cluster: hosts.Cluster, tmp_path: Path,
) -> None:
    space = SpaceId("admin", "cluster-gradio")
    create_and_push(podium_swarm, space, "gradio-hello", tmp_path)
    podium_swarm.wait_stage(space, RUNNING)
    upstream_node(podium_swarm, cluster, space)  # a node of the cluster, not this host
    [instance] = instances(podium_swarm, space)
    assert instance.image.startswith(f"{cluster.registry}/") and "@sha256:" in instance.image
    url = podium_swarm.space_host_url(space)
    answer = Client(url, verbose=False).predict("Ada", api_name="/predict")
    assert str(answer) == "Hello, Ada!"


def test_spaces_spread_over_nodes_and_sleep_to_zero_then_wake_on_a_request(
    podium_swarm: Podium, cluster: hosts.Cluster, tmp_path: Path,
) -> None:
    spaces = [SpaceId("admin", f"spread-{i}") for i in range(4)]
    for space in spaces:
        create_and_push(podium_swarm, space, "static", tmp_path)
    for space in spaces:
        podium_swarm.wait_stage(space, RUNNING)
        assert httpx.get(podium_swarm.space_host_url(space), timeout=30).status_code == 200
    nodes = {upstream_node(podium_swarm, cluster, s).name for s in spaces}
    assert len(nodes) >= 2, nodes

    from podium.controller.platform import Platform

    platform = Platform(podium_swarm.settings)
    try:
        assert platform.scheduler.sleep(spaces[0].key)
    finally:
        platform.close()
    assert instances(podium_swarm, spaces[0]) == []  # scaled to zero: no service left
    podium_swarm.wait_stage(spaces[0], {Stage.SLEEPING}, timeout=60)
    began = time.monotonic()
    woke = httpx.get(podium_swarm.space_host_url(spaces[0]), timeout=120)
    assert woke.status_code == 200, woke.text[:300]
    print(f"wake from zero through the proxy: {time.monotonic() - began:.1f} s")
    assert podium_swarm.runtime(spaces[0])["stage"] == Stage.RUNNING
