"""What the swarm does to Spaces' tasks, as engine events for the scheduler (events.py):
a task that ended on its own is a crash ("die"); a task on a node that went down is moved
to another node by forcing a service update, unless its /data pins it there ("moved", so
the route follows it once it answers). A poll, as the 20.10 events API has no task events."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

import docker
import docker.errors

from podium.config import Settings
from podium.scheduler.base import KEY_LABEL, ROLE_LABEL, ROLE_SPACE, EngineEvent
from podium.scheduler.swarm_nodes import Nodes
from podium.scheduler.volumes import SCOPE_LABEL


class SwarmBackend(Protocol):
    """What the watch needs of podium.scheduler.swarm.SwarmBackend."""

    client: docker.DockerClient
    settings: Settings
    scope: str
    nodes: Nodes

    def current_task(self, service_id: str) -> dict[str, Any] | None: ...

log = logging.getLogger(__name__)

POLL_S = 1.0
CRASHED = {"complete", "failed", "rejected"}
LOST = {"shutdown", "orphaned"}  # ended by the swarm, not by the app


def watch_services(backend: SwarmBackend, stop: threading.Event) -> Iterator[EngineEvent]:
    reported: set[str] = set()  # task ids already turned into an event
    while not stop.wait(POLL_S):
        try:
            yield from _one_pass(backend, reported)
        except docker.errors.DockerException as exc:
            log.warning("polling the swarm's tasks failed: %s", exc)


def _one_pass(backend: SwarmBackend, reported: set[str]) -> Iterator[EngineEvent]:
    labels = [f"{ROLE_LABEL}={ROLE_SPACE}", f"{SCOPE_LABEL}={backend.scope}"]
    backend.nodes.refresh()
    for service in backend.client.api.services(filters={"label": labels}):
        key = (service["Spec"].get("Labels") or {}).get(KEY_LABEL)
        replicas = service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
        task = backend.current_task(service["ID"])
        if key is None or task is None or replicas == 0 or task["ID"] in reported:
            continue
        state = task["Status"]["State"]
        node_up = backend.nodes.ready(task.get("NodeID", ""))
        if state in CRASHED and task.get("DesiredState") != "shutdown":
            reported.add(task["ID"])
            yield EngineEvent(service["ID"], key, "die", time.time())
        elif task.get("NodeID") and not node_up:  # the swarm marks it shutdown, no more
            if not backend.settings.swarm_volume_options:
                continue  # its node-local /data is there: it waits for the node to return
            reported.add(task["ID"])
            force_new_task(backend, service["ID"])
            yield EngineEvent(service["ID"], key, "moved", time.time())
        elif node_up and state in LOST and task.get("DesiredState") != "running":
            # A pinned Space's node came back: the swarm shut its task down meanwhile and,
            # with no restart policy, starts none; start it again there.
            reported.add(task["ID"])
            force_new_task(backend, service["ID"])
            yield EngineEvent(service["ID"], key, "moved", time.time())


def force_new_task(backend: SwarmBackend, service_id: str) -> None:
    """A forced update starts a fresh task on a node that is up (the old one cannot be
    stopped while its node is down, hence start-first)."""
    service = backend.client.api.inspect_service(service_id)
    template = service["Spec"]["TaskTemplate"]
    template["ForceUpdate"] = int(template.get("ForceUpdate", 0)) + 1
    backend.client.api.update_service(
        service_id, service["Version"]["Index"], task_template=template,
        update_config={"Order": "start-first", "FailureAction": "continue"},
        fetch_current_spec=True)
