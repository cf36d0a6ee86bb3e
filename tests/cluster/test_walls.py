"""The single-host walls carried over to every node: a Space on a worker opens no
connection to the registry, the manager's engine, its own node, or any platform port on
the cluster's network (each node runs ``podium swarm walls``), while the proxy's
connections to its published port still work."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from podium.config import Settings
from podium.scheduler import get_backend
from podium.scheduler.swarm import ENDED, SwarmBackend
from tests.cluster import hosts
from tests.cluster.test_swarm_backend import app_image, cluster_settings, make_spec  # noqa: F401

pytestmark = [pytest.mark.docker]


@pytest.fixture
def backend(settings: Settings, cluster: hosts.Cluster) -> Iterator[SwarmBackend]:
    chosen = get_backend(cluster_settings(settings, cluster))
    assert isinstance(chosen, SwarmBackend)
    yield chosen
    for instance in chosen.list_instances():
        chosen.remove(instance)


@contextmanager
def listener(host: str) -> Iterator[int]:
    """A port listening on ``host`` (connections complete in the backlog, unanswered)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def probe(backend: SwarmBackend, image: str, host: str, port: int) -> str:
    """Run the test app in probe mode as a Space on a worker; its verdict line."""
    spec = make_spec(backend.settings, image, MODE="probe", PROBE_HOST=host,
                     PROBE_PORT=str(port))
    instance = backend.start(spec)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        task = backend.current_task(instance.id)
        if task is not None and task["Status"]["State"] in ENDED:
            break
        time.sleep(0.3)
    lines = [line for line in backend.logs(instance) if "PROBE-" in line]
    backend.remove(instance)
    assert lines, f"the probe printed no verdict (task {task and task['Status']})"
    return lines[-1]


def test_a_space_on_a_node_cannot_reach_platform_ports(
    cluster: hosts.Cluster, backend: SwarmBackend, app_image: str,  # noqa: F811
) -> None:
    with listener(cluster.host_addr) as platform_port:  # a "Redis/API" on the host
        targets = [
            (cluster.host_addr, 5000),  # the registry
            (cluster.host_addr, platform_port),
            (cluster.manager.addr, 2377),  # the swarm manager's engine
            ("gateway", 7946),  # its own node's engine (gossip), via the bridge gateway
        ]
        for host, port in targets:
            verdict = probe(backend, app_image, host, port)
            assert verdict.startswith("PROBE-BLOCKED"), (host, port, verdict)
