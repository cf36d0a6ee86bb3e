"""The swarm's nodes as the Swarm backend needs them: the address a task's published port
is reached at, whether the node is up, and node labels that pin a Space to the node holding
its node-local /data (kept in the swarm's own store, so they survive a scheduler restart)."""

from __future__ import annotations

import time
from typing import Any

import docker
import docker.errors

from podium.errors import ServiceUnavailable
from podium.scheduler.placement import NodeFacts

DATA_PREFIX = "podium.data."
CACHE_S = 1.0  # node states change on the order of seconds (heartbeats)


class Nodes:
    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self._seen: dict[str, dict[str, Any]] = {}
        self._at = 0.0

    def _all(self) -> dict[str, dict[str, Any]]:
        if time.monotonic() - self._at > CACHE_S:
            self._seen = {n["ID"]: n for n in self.client.api.nodes()}
            self._at = time.monotonic()
        return self._seen

    def refresh(self) -> None:
        self._at = 0.0

    def ready(self, node_id: str) -> bool:
        node = self._all().get(node_id)
        return bool(node) and node["Status"].get("State") == "ready"  # type: ignore[index]

    def addr(self, node_id: str) -> str | None:
        """Where the node's published ports are reached; None while the node is down."""
        node = self._all().get(node_id)
        if node is None or node["Status"].get("State") != "ready":
            return None
        return _addr(node) or None

    def facts(self, node_id: str) -> NodeFacts | None:
        """The node as the dashboard names it: its hostname (or the name an operator set
        in its spec) and its address, up or not; None for a node the swarm forgot."""
        node = self._all().get(node_id)
        if node is None:
            return None
        name = str(node["Spec"].get("Name") or (node.get("Description") or {}).get(
            "Hostname") or node_id[:12])
        return NodeFacts(id=node_id, name=name, addr=_addr(node), up=self.ready(node_id))

    def holding(self, label: str) -> str | None:
        for node_id, node in self._all().items():
            if (node["Spec"].get("Labels") or {}).get(label) == "true":
                return node_id
        return None

    def choose(self) -> str:
        """A node for a Space's new /data: the ready, active one holding the fewest."""
        candidates = [
            (sum(k.startswith(DATA_PREFIX) for k in (n["Spec"].get("Labels") or {})), node_id)
            for node_id, n in self._all().items()
            if n["Status"].get("State") == "ready" and n["Spec"].get("Availability") == "active"
        ]
        if not candidates:
            raise ServiceUnavailable("no swarm node is ready and active for a new Space")
        return min(candidates)[1]

    def pin(self, node_id: str, label: str) -> None:
        """Label ``node_id`` as holding a Space's /data (once; no other node keeps it)."""
        if self.holding(label) == node_id:
            return
        self.unpin(label)
        self._label(node_id, label, add=True)

    def unpin(self, label: str) -> None:
        for node_id, node in list(self._all().items()):
            if label in (node["Spec"].get("Labels") or {}):
                self._label(node_id, label, add=False)

    def _label(self, node_id: str, label: str, *, add: bool) -> None:
        for _ in range(5):  # another writer may bump the node's version meanwhile
            node = self.client.api.inspect_node(node_id)
            spec = node["Spec"]
            labels = dict(spec.get("Labels") or {})
            if add:
                labels[label] = "true"
            else:
                labels.pop(label, None)
            spec["Labels"] = labels
            try:
                self.client.api.update_node(node_id, node["Version"]["Index"], spec)
                break
            except docker.errors.APIError as exc:
                if "out of sequence" not in str(exc):
                    raise
        self.refresh()


def _addr(node: dict[str, Any]) -> str:
    addr = str(node["Status"].get("Addr") or "")
    if addr in {"", "0.0.0.0"}:  # a manager may report only its advertise address
        addr = str((node.get("ManagerStatus") or {}).get("Addr", "")).rpartition(":")[0]
    return addr
