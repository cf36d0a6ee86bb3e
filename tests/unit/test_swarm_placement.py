"""Where a Space runs on the swarm, as its settings page says it (SwarmBackend.placement):
the node of its current task, and the node its node-local /data pins it to, read from a
stand-in for the manager's API (tests/cluster asks a real swarm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.names import SpaceId
from podium.scheduler import backend_class
from podium.scheduler.docker import DockerBackend
from podium.scheduler.swarm import SwarmBackend
from podium.scheduler.swarm_spec import data_label

SPACE = SpaceId("alice", "Demo")


def node(node_id: str, host: str, addr: str, *, state: str = "ready",
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"ID": node_id, "Spec": {"Labels": labels or {}, "Availability": "active"},
            "Description": {"Hostname": host}, "Status": {"State": state, "Addr": addr}}


class ManagerAPI:
    """The two calls placement makes of the manager: nodes and a service's tasks."""

    def __init__(self, nodes: list[dict[str, Any]], tasks: list[dict[str, Any]],
                 down: bool = False) -> None:
        self._nodes, self._tasks, self.down = nodes, tasks, down

    def nodes(self) -> list[dict[str, Any]]:
        if self.down:
            raise requests.ConnectionError("connection refused")
        return self._nodes

    def tasks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        if self.down:
            raise requests.ConnectionError("connection refused")
        return [t for t in self._tasks if t["ServiceID"] == filters["service"]]


class Manager:
    def __init__(self, api: ManagerAPI) -> None:
        self.api = api


def task(node_id: str, state: str = "running") -> dict[str, Any]:
    return {"ID": "t1", "ServiceID": "svc", "NodeID": node_id, "DesiredState": "running",
            "Version": {"Index": 7}, "Status": {"State": state}}


def backend(tmp_path: Path, api: ManagerAPI, **settings: str) -> SwarmBackend:
    return SwarmBackend(Settings(data_dir=tmp_path, **settings), client=Manager(api),  # type: ignore[arg-type]
                        scope="s")


PIN = {data_label(SPACE, "s"): "true"}


def test_a_space_with_node_local_data_runs_on_and_is_pinned_to_the_labelled_node(
    tmp_path: Path,
) -> None:
    api = ManagerAPI([node("n1", "mgr", "10.0.0.10"),
                      node("n2", "worker-2", "10.0.0.12", labels=PIN)], [task("n2")])
    where = backend(tmp_path, api).placement(SPACE, "svc")
    assert where.node is not None and (where.node.name, where.node.addr) == (
        "worker-2", "10.0.0.12")
    assert where.node.up and where.pinned and not where.shared_data
    assert where.data_node == where.node


def test_asleep_it_runs_nowhere_but_stays_pinned_and_a_lost_node_is_reported_down(
    tmp_path: Path,
) -> None:
    api = ManagerAPI([node("n2", "worker-2", "10.0.0.12", state="down", labels=PIN)], [])
    where = backend(tmp_path, api).placement(SPACE, None)
    assert where.node is None
    assert where.data_node is not None and where.data_node.name == "worker-2"
    assert not where.data_node.up
    # A task that ended (its node lost, shut down) runs nowhere either.
    api._tasks = [task("n2", state="shutdown")]
    assert backend(tmp_path, api).placement(SPACE, "svc").node is None


def test_shared_data_pins_nothing_and_a_never_started_space_is_not_pinned_yet(
    tmp_path: Path,
) -> None:
    api = ManagerAPI([node("n2", "worker-2", "10.0.0.12", labels=PIN)], [task("n2")])
    shared = backend(tmp_path, api, swarm_volume_options="type=nfs,o=addr=10.0.0.5,device=:/x")
    where = shared.placement(SPACE, "svc")
    assert where.shared_data and not where.pinned
    assert where.node is not None and where.node.name == "worker-2"
    fresh = backend(tmp_path, ManagerAPI([node("n2", "worker-2", "10.0.0.12")], []))
    assert not fresh.placement(SPACE, None).pinned


def test_an_unreachable_manager_is_a_service_unavailable_error(tmp_path: Path) -> None:
    api = ManagerAPI([], [], down=True)
    with pytest.raises(ServiceUnavailable, match="swarm manager did not answer"):
        backend(tmp_path, api).placement(SPACE, "svc")


def test_only_a_backend_of_several_nodes_has_placement_to_show(tmp_path: Path) -> None:
    assert backend_class(Settings(data_dir=tmp_path, scheduler_backend="swarm")) is SwarmBackend
    assert SwarmBackend.places_on_nodes
    docker = backend_class(Settings(data_dir=tmp_path))
    assert docker is DockerBackend and not docker.places_on_nodes
