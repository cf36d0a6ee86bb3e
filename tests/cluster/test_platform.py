"""The whole platform on the test cluster, started as `podium up` starts it but with
PODIUM_SCHEDULER_BACKEND=swarm: a git push builds on the host, the worker pushes the image
to the registry, a node pulls it by digest, and the nginx proxy on the host serves the
Space from that node by host name and by path URL (gradio_client; Streamlit in Debian's
chromium); its settings page names the node and the pin its node-local /data makes; six
Spaces spread over the nodes; sleep to zero and wake on a request; pause, resume, restart
and a factory rebuild through the API."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.e2e.browser import chromium, streamlit_hello_reacts
from tests.e2e.conftest import ADMIN_PASSWORD, CA_BUNDLE, Podium
from tests.e2e.conftest import localhost_resolver as localhost_resolver  # noqa: F401
from tests.platforms import platform_running, user_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]
RUNNING = {Stage.RUNNING}
GRADIO = SpaceId("admin", "cluster-gradio")
STREAMLIT = SpaceId("admin", "cluster-streamlit")


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


@pytest.fixture(scope="module")
def apps(podium_swarm: Podium, tmp_path_factory: pytest.TempPathFactory) -> list[SpaceId]:
    """The Gradio and Streamlit templates pushed once, for every test of the module (both
    pushed before waiting: the second builds while the first starts on its node)."""
    tmp = tmp_path_factory.mktemp("apps")
    create_and_push(podium_swarm, GRADIO, "gradio-hello", tmp)
    create_and_push(podium_swarm, STREAMLIT, "streamlit-hello", tmp)
    for space in (GRADIO, STREAMLIT):
        podium_swarm.wait_stage(space, RUNNING)
    return [GRADIO, STREAMLIT]


def test_a_pushed_gradio_space_runs_on_a_node_and_is_served_through_the_proxy(
    podium_swarm: Podium, cluster: hosts.Cluster, apps: list[SpaceId],
) -> None:
    upstream_node(podium_swarm, cluster, GRADIO)  # a node of the cluster, not this host
    [instance] = instances(podium_swarm, GRADIO)
    assert instance.image.startswith(f"{cluster.registry}/") and "@sha256:" in instance.image
    host = podium_swarm.space_host_url(GRADIO)
    answer = Client(host, verbose=False).predict("Ada", api_name="/predict")
    assert str(answer) == "Hello, Ada!"
    # By path: the path URL leads a client to the Space's host (never served on the
    # dashboard's origin), and gradio_client, following it, predicts there.
    path = podium_swarm.space_path_url(GRADIO)
    moved = httpx.get(path + "config", timeout=30)
    assert moved.status_code == 307 and moved.headers["location"] == host + "config"
    by_path = Client(path, verbose=False, httpx_kwargs={"follow_redirects": True})
    assert str(by_path.predict("Grace", api_name="/predict")) == "Hello, Grace!"


def test_a_pushed_streamlit_space_runs_on_a_node_and_renders_in_chromium(
    podium_swarm: Podium, cluster: hosts.Cluster, apps: list[SpaceId],
) -> None:
    upstream_node(podium_swarm, cluster, STREAMLIT)
    host = podium_swarm.space_host_url(STREAMLIT)
    with chromium() as browser:
        for url in (host, podium_swarm.space_path_url(STREAMLIT)):
            streamlit_hello_reacts(browser, url, host)


def test_the_settings_page_names_the_node_and_the_pin_of_node_local_data(
    podium_swarm: Podium, cluster: hosts.Cluster, apps: list[SpaceId],
) -> None:
    node = upstream_node(podium_swarm, cluster, GRADIO)
    hostname = hosts.docker(cluster.manager, "node", "inspect", "--format",
                            "{{.Description.Hostname}}", hosts.node_id(node)).stdout.strip()
    with podium_swarm.client() as admin:
        page = admin.get(f"/{GRADIO}/settings")
    assert page.status_code == 200, page.text[:300]
    where = f"<strong>{hostname}</strong> ({node.addr})"
    assert f"Runs on node {where}." in page.text
    assert f"Pinned to node {where}:" in page.text  # no PODIUM_SWARM_VOLUME_OPTIONS here
    assert "stays down until the node is back" in page.text


def test_six_spaces_spread_over_nodes_and_sleep_to_zero_then_wake_on_a_request(
    podium_swarm: Podium, cluster: hosts.Cluster, apps: list[SpaceId], tmp_path: Path,
) -> None:
    statics = [SpaceId("admin", f"spread-{i}") for i in range(4)]
    for space in statics:
        create_and_push(podium_swarm, space, "static", tmp_path)
    for space in statics:
        podium_swarm.wait_stage(space, RUNNING)
        assert httpx.get(podium_swarm.space_host_url(space), timeout=30).status_code == 200
    spaces = [*apps, *statics]
    assert all(podium_swarm.runtime(s)["stage"] == Stage.RUNNING for s in spaces)
    nodes = {upstream_node(podium_swarm, cluster, s).name for s in spaces}
    assert len(nodes) >= 2, nodes

    from podium.controller.platform import Platform

    platform = Platform(podium_swarm.settings)
    try:
        assert platform.scheduler.sleep(statics[0].key)
    finally:
        platform.close()
    assert instances(podium_swarm, statics[0]) == []  # scaled to zero: no service left
    podium_swarm.wait_stage(statics[0], {Stage.SLEEPING}, timeout=60)
    began = time.monotonic()
    woke = httpx.get(podium_swarm.space_host_url(statics[0]), timeout=120)
    assert woke.status_code == 200, woke.text[:300]
    print(f"wake from zero through the proxy: {time.monotonic() - began:.1f} s")
    assert podium_swarm.runtime(statics[0])["stage"] == Stage.RUNNING


def test_pause_resume_restart_and_a_factory_rebuild_on_the_swarm(
    podium_swarm: Podium, cluster: hosts.Cluster, apps: list[SpaceId], tmp_path: Path,
) -> None:
    space = SpaceId("admin", "cluster-life")
    create_and_push(podium_swarm, space, "static", tmp_path)
    podium_swarm.wait_stage(space, RUNNING)
    host = podium_swarm.space_host_url(space)
    [first] = instances(podium_swarm, space)
    with podium_swarm.client() as api:

        def call(action: str, **params: str) -> dict:  # type: ignore[type-arg]
            answer = api.post(f"/api/spaces/{space}/{action}", params=params)
            assert answer.status_code == 200, answer.text
            return answer.json()

        # Paused: no service on any node, and a visit does not start one.
        assert call("pause")["stage"] == Stage.PAUSED
        assert instances(podium_swarm, space) == []
        assert httpx.get(host, timeout=30).status_code != 200
        assert podium_swarm.runtime(space)["stage"] == Stage.PAUSED
        assert instances(podium_swarm, space) == []

        call("resume")
        podium_swarm.wait_stage(space, RUNNING, timeout=120)
        [resumed] = instances(podium_swarm, space)
        assert resumed.id != first.id and resumed.image == first.image
        assert httpx.get(host, timeout=30).status_code == 200

        # Restart: a new service of the same image, health-gated, on a node.
        call("restart")
        restarted = wait_for_instance(podium_swarm, space, other_than=resumed.id)
        assert restarted.image == first.image
        upstream_node(podium_swarm, cluster, space)

        # Factory rebuild: built again without the engine's cache, pushed to the registry
        # and run from there by digest.
        build = call("restart", factory="true")["build"]
        assert build is not None and build["commit"] == podium_swarm.runtime(space)["sha"]
        rebuilt = wait_for_instance(podium_swarm, space, other_than=restarted.id)
        assert podium_swarm.runtime(space)["build"]["id"] == build["id"]
        assert rebuilt.image.startswith(f"{cluster.registry}/") and "@sha256:" in rebuilt.image
        assert rebuilt.image != first.image  # a new image, not the cached one
    assert httpx.get(host, timeout=30).status_code == 200


def wait_for_instance(podium: Podium, space: SpaceId, other_than: str,
                      timeout: float = 180) -> Any:
    """The Space's one instance once it is not ``other_than`` and the Space is RUNNING."""
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = instances(podium, space)
        if (len(found) == 1 and found[0].id != other_than
                and podium.runtime(space)["stage"] == Stage.RUNNING):
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"{space} did not run a new instance: {found}")
