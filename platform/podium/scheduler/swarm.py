"""Cluster backend: each Space is a Docker Swarm service of one replica, on whichever node
the swarm places it (``PODIUM_SCHEDULER_BACKEND=swarm``).

- Images reach nodes through the registry (``podium.registry``): a spec naming a local
  image is pushed first, and the service names it by digest, so every node pulls the same
  bytes. A build worker that pushed already hands over a digest reference.
- The app's port is published in host mode on the task's node; the proxy routes to
  node-address:port (``Instance.upstream``), so no overlay network is needed between the
  proxy and Spaces (bench/cluster.py measures remote vs local).
- /data is a named volume on the node (pinned there by a node label) or, with
  ``swarm_volume_options``, a ``local`` driver volume on shared storage (NFS) and not pinned.
- Light sleep (the cgroup freezer) is not offered by a service: ``can_freeze`` is False and
  the scheduler deep-sleeps (removes the service) instead.
- Node loss and crashes: ``swarm_watch``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
import requests

from podium.config import Settings
from podium.errors import NotFound, ServiceUnavailable, StartCancelled
from podium.names import SpaceId
from podium.registry import push_image
from podium.scheduler.base import (
    KEY_LABEL,
    LAST_LINES,
    ROLE_LABEL,
    ROLE_SPACE,
    Backend,
    EngineEvent,
    Instance,
    RuntimeFailure,
    health_client,
    log_lines,
)
from podium.scheduler.placement import Placement
from podium.scheduler.spec import RunSpec
from podium.scheduler.swarm_node import swarm_network_body
from podium.scheduler.swarm_nodes import Nodes
from podium.scheduler.swarm_spec import data_label, instance_of, service_spec
from podium.scheduler.swarm_watch import force_new_task, watch_services
from podium.scheduler.volumes import SCOPE_LABEL

NETWORK = "podium-spaces"
API_VERSION = "1.41"  # Docker 20.10: service capabilities and pids limits
# Task states on the way to running, and those a task never leaves.
STARTING = {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
# A task the node refused before the app ran (e.g. "network <id> exists" after an unclean
# engine restart, moby/moby#37087) is tried again this often; the swarm then prefers
# another node for the service.
REJECTED_RETRIES = 3


class SwarmBackend(Backend):
    name = "swarm"
    can_freeze = False
    places_on_nodes = True

    def __init__(
        self, settings: Settings, client: docker.DockerClient | None = None, *,
        build_client: docker.DockerClient | None = None, network: str = NETWORK,
        poll_s: float = 0.2, scope: str = "podium",
    ) -> None:
        self.settings = settings
        self.client = client or (
            docker.DockerClient(base_url=settings.swarm_host, version=API_VERSION)
            if settings.swarm_host else docker.from_env(version=API_VERSION))
        self._build_client = build_client
        self.network = network
        self.poll_s = poll_s
        self.scope = scope
        self.nodes = Nodes(self.client)
        self._pushed: dict[str, str] = {}  # local image id -> digest reference
        self._http = health_client()

    # -- network and images --------------------------------------------------------------

    def ensure_network(self) -> None:
        """The Spaces network, made of each node's config-only half (swarm_node.py): a
        node without it (``podium swarm node`` not run there) rejects the task."""
        # The name filter matches substrings: the node's podium-spaces-node is not it.
        if any(n["Name"] == self.network for n in self.client.api.networks(names=[self.network])):
            return
        body = swarm_network_body(self.network)
        api = self.client.api
        try:
            api._result(api._post_json(api._url("/networks/create"), data=body), json=True)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # created by another scheduler meanwhile
                raise ServiceUnavailable(f"could not create the swarm network: {exc}") from exc

    def reference(self, image: str) -> str:
        """The digest reference nodes pull: as given when it is one, else pushed now."""
        if "@sha256:" in image:
            return image
        if not self.settings.registry:
            raise ServiceUnavailable(
                f"image {image} is only on the build host and no registry is set",
                hint="set PODIUM_REGISTRY (README: Run on a cluster)")
        client = self._build_client or docker.from_env()
        local_id = client.images.get(image).id or image
        if local_id not in self._pushed:
            repository = image.split("@")[0].rsplit(":", 1)[0]
            self._pushed[local_id] = push_image(
                client, image, self.settings.registry_push or self.settings.registry,
                self.settings.registry, repository)
        return self._pushed[local_id]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, spec: RunSpec) -> Instance:
        self.ensure_network()
        image = self.reference(spec.image)
        volume_opts = self.settings.swarm_volume_options
        pinned = None if volume_opts else self._data_node(spec.space_id)
        name = spec.space_id.container_name(
            f"{(spec.commit or 'run')[:12]}-{secrets.token_hex(3)}")[:63]
        kwargs = service_spec(spec, image=image, name=name, scope=self.scope,
                              network=self.network, pinned_to=pinned, volume_opts=volume_opts)
        try:
            created = self.client.api.create_service(**kwargs)
        except docker.errors.APIError as exc:
            raise ServiceUnavailable(f"the swarm could not start {spec.space_id}: {exc}") from exc
        found = self.refresh(created["ID"])
        if found is None:
            raise ServiceUnavailable(f"the service of {spec.space_id} vanished at its start")
        return found

    def resume(self, instance: Instance) -> Instance:
        self._scale(instance.id, 1)
        return self.refresh(instance.id) or instance

    def freeze(self, instance: Instance) -> None:
        raise ServiceUnavailable("a swarm service cannot be frozen; it is removed to sleep")

    def thaw(self, instance: Instance) -> Instance:
        return self.resume(instance)

    def stop(self, instance: Instance, drain_s: float = 0.0) -> None:
        if drain_s > 0:
            time.sleep(drain_s)
        try:
            self._scale(instance.id, 0)
        except NotFound:
            pass

    def remove(self, instance: Instance) -> None:
        try:
            self.client.api.remove_service(instance.id)
        except docker.errors.NotFound:
            pass

    def _data_node(self, space_id: SpaceId) -> str:
        """The node holding the Space's node-local /data, chosen (and labelled) at its
        first start: every service of the Space is constrained to it from then on."""
        label = data_label(space_id, self.scope)
        node = self.nodes.holding(label)
        if node is None:
            node = self.nodes.choose()
            self.nodes.pin(node, label)
        return node

    def placement(self, space_id: SpaceId, instance_id: str | None) -> Placement:
        """The node of the instance's current task, and the node a node-local /data pins
        the Space to (its node label), as the manager knows them now."""
        shared = bool(self.settings.swarm_volume_options)
        try:
            self.nodes.refresh()
            task = self.current_task(instance_id) if instance_id else None
            placed = task is not None and task["Status"]["State"] in STARTING | {"running"}
            node_id = str(task.get("NodeID") or "") if placed and task is not None else ""
            node = self.nodes.facts(node_id) if node_id else None
            held = None if shared else self.nodes.holding(data_label(space_id, self.scope))
            data_node = self.nodes.facts(held) if held else None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise ServiceUnavailable(f"the swarm manager did not answer: {exc}") from exc
        return Placement(node=node, data_node=data_node, shared_data=shared)

    def refresh(self, instance_id: str) -> Instance | None:
        try:
            service = self.client.api.inspect_service(instance_id)
        except docker.errors.NotFound:
            return None
        task = self.current_task(service["ID"])
        return instance_of(service, task, self._addr_of(task))

    def list_instances(self, space_key: str | None = None) -> list[Instance]:
        labels = [f"{ROLE_LABEL}={ROLE_SPACE}", f"{SCOPE_LABEL}={self.scope}"]
        if space_key is not None:
            labels.append(f"{KEY_LABEL}={space_key}")
        found = []
        for service in self.client.api.services(filters={"label": labels}):
            try:
                task = self.current_task(service["ID"])
                found.append(instance_of(service, task, self._addr_of(task)))
            except (KeyError, ValueError):
                continue  # labels tampered with: not ours to manage
        return sorted(found, key=lambda i: i.created)

    def current_task(self, service_id: str) -> dict[str, Any] | None:
        """The task meant to run now (desired running), else the newest one."""
        try:
            tasks = self.client.api.tasks(filters={"service": service_id})
        except docker.errors.NotFound:
            return None
        if not tasks:
            return None
        tasks.sort(key=lambda t: (t.get("DesiredState") == "running", t["Version"]["Index"]))
        return tasks[-1]

    def _addr_of(self, task: dict[str, Any] | None) -> str | None:
        return self.nodes.addr(task["NodeID"]) if task and task.get("NodeID") else None

    def _scale(self, service_id: str, replicas: int) -> None:
        try:
            version = self.client.api.inspect_service(service_id)["Version"]["Index"]
            self.client.api.update_service(
                service_id, version, mode={"Replicated": {"Replicas": replicas}},
                fetch_current_spec=True)
        except docker.errors.NotFound as exc:
            raise NotFound(f"service {service_id[:12]} no longer exists") from exc

    # -- health --------------------------------------------------------------------------

    def wait_healthy(
        self, instance: Instance, timeout: float,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        retries = 0
        while True:
            if cancelled is not None and cancelled():
                raise StartCancelled(f"the start of {instance.space} was cancelled")
            current = self.refresh(instance.id)
            if current is None:
                raise RuntimeFailure(None, False, [], "the service vanished").to_error(
                    instance.space)
            task = self.current_task(instance.id)
            state = task["Status"]["State"] if task else "new"
            if state == "rejected" and retries < REJECTED_RETRIES:
                retries += 1
                force_new_task(self, instance.id)
                time.sleep(max(self.poll_s, 0.5))
                continue
            if state in ENDED:
                raise self.inspect_failure(current).to_error(instance.space)
            if self.probe(current):
                instance.upstream = current.upstream
                instance.running = True
                return
            if time.monotonic() >= deadline:
                failure = self.inspect_failure(current)
                failure.reason = (f"did not answer HTTP on port {current.app_port} "
                                  f"within {timeout:g}s (task {state})")
                raise failure.to_error(instance.space)
            time.sleep(self.poll_s if state == "running" else max(self.poll_s, 0.5))

    def inspect_failure(self, instance: Instance) -> RuntimeFailure:
        task = self.current_task(instance.id)
        if task is None:
            return RuntimeFailure(None, False, [], "the service has no task")
        status = task.get("Status") or {}
        tail = list(self._log_lines(instance.id, tail=LAST_LINES))
        if status.get("State") in STARTING | {"running"}:
            return RuntimeFailure(None, False, tail)
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        # Swarm reports no OOM flag; 137 is SIGKILL, which the memory limit sends.
        return RuntimeFailure(exit_code=code, oom_killed=False, last_lines=tail,
                              reason=str(status.get("Err") or ""))

    def logs(self, instance: Instance, follow: bool = False) -> Iterator[str]:
        return self._log_lines(instance.id, follow=follow)

    def _log_lines(self, service_id: str, follow: bool = False,
                   tail: int | str = "all") -> Iterator[str]:
        try:
            stream = self.client.api.service_logs(
                service_id, stdout=True, stderr=True, follow=follow, tail=tail)
        except docker.errors.APIError:
            return iter(())
        return log_lines(stream)

    # -- engine events and volumes -------------------------------------------------------

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        return watch_services(self, stop)

    def remove_volume(self, space_id: SpaceId) -> None:
        """Forget the node pin. The volume itself lives on its node's engine, which the
        manager cannot reach: it stays until ``docker volume rm`` there (SECURITY.md)."""
        self.nodes.unpin(data_label(space_id, self.scope))
