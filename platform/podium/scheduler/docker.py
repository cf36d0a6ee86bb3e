"""Single-host backend: Space containers on this machine's Docker engine.

Isolation, decided here once for every Space:
- a dedicated bridge ``podium-spaces`` without inter-container traffic (Spaces cannot reach
  each other) and with host INPUT dropped (see ``firewall``), so the platform's Redis, API
  and proxy are out of reach while the internet is not;
- uid 1000, every capability dropped, ``no-new-privileges``, memory (no swap on top), CPU and
  pids limits, docker-init as PID 1 so SIGTERM reaches the app and zombies are reaped;
- a parent cgroup with a low CPU weight over all Spaces, so the platform comes first (``cpu``);
- the root filesystem stays writable: Gradio writes ``.gradio/`` (flagging, cached examples)
  beside the app and libraries cache under $HOME, and a read-only root breaks them. Nothing
  written there survives a redeploy, which always starts a fresh container from the image;
- /data (owned by uid 1000) is the only persistent storage: a quota-sized filesystem image
  per Space, and the writable layer has its own quota (see ``storage``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from podium.bridges import bridge_interface, ensure_isolated_network
from podium.config import Settings
from podium.errors import NotFound, ServiceUnavailable, StartCancelled
from podium.names import SpaceId
from podium.scheduler import cpu
from podium.scheduler.base import (
    COMMIT_LABEL,
    CREATED_LABEL,
    KEY_LABEL,
    LAST_LINES,
    PORT_LABEL,
    ROLE_LABEL,
    ROLE_SPACE,
    SDK_LABEL,
    SPACE_LABEL,
    STANDBY_LABEL,
    Backend,
    EngineEvent,
    Instance,
    RuntimeFailure,
    health_client,
    log_lines,
)
from podium.scheduler.budget import Usage, cgroup_usage
from podium.scheduler.docker_events import follow_events
from podium.scheduler.spec import RunSpec
from podium.scheduler.standby import WarmStandby
from podium.scheduler.storage import Storage, upper_dir
from podium.scheduler.volumes import SCOPE_LABEL, SPACE_UID, DataVolumes

NETWORK = "podium-spaces"
STOP_TIMEOUT_S = 10
HEALTH_LABEL = "podium.health_path"
SLOW_START_S = 10.0
# While waiting for an app: how often the engine is asked whether its container still runs
# (the app itself is probed every poll).
INSPECT_EVERY_S = 0.5
FREEZE_TRIES = 5


class DockerBackend(WarmStandby, Backend):
    name = "docker"

    def __init__(
        self,
        settings: Settings,
        client: docker.DockerClient | None = None,
        *,
        network: str = NETWORK,
        isolate: bool = True,
        poll_s: float = 0.05,
        scope: str = "podium",
    ) -> None:
        self.settings = settings
        self.client = client or docker.from_env()
        self.network = network
        self.isolate = isolate
        self.poll_s = poll_s
        # Containers of other Podium installs (or test runs) on the same engine carry another
        # scope and are never listed, adopted or removed by this one.
        self.scope = scope
        self._network_ready = False
        self._cgroup_parent: str | None = None
        self.storage = Storage(settings, scope)
        self.volumes = DataVolumes(self.client, self.storage, scope)
        self._http = health_client()

    # -- network -------------------------------------------------------------------------

    def ensure_network(self) -> None:
        ensure_isolated_network(self.client, self.network, isolate=self.isolate)
        if self.settings.space_cgroup_parent:  # set up with the network: before any Space
            driver = str(self.client.info().get("CgroupDriver") or "cgroupfs")
            self._cgroup_parent = cpu.ensure_parent(
                self.settings.space_cgroup_parent, self.settings.space_cpu_shares, driver)
        self._network_ready = True

    def bridge_interface(self, attrs: dict[str, Any] | None = None) -> str:
        return bridge_interface(attrs or self.client.networks.get(self.network).attrs)

    def gateway(self) -> str:
        """The host's address on the Spaces network (what the firewall protects)."""
        config = self.client.networks.get(self.network).attrs["IPAM"]["Config"]
        return str(config[0]["Gateway"])

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, spec: RunSpec) -> Instance:
        if not self._network_ready:
            self.ensure_network()
        image = self._image(spec.image)
        data = self.volumes.source(spec, image)
        name = spec.space_id.container_name(f"{(spec.commit or 'run')[:12]}-{secrets.token_hex(3)}")
        return self._instance(self.launch(spec, name, self._run_options(spec, image, data)))

    def launch(self, spec: RunSpec, name: str, options: dict[str, Any],
               before_start: Callable[[Container], None] | None = None) -> Container:
        """Create, limit the layer, ``before_start``, start (and remove on any failure)."""
        try:
            container = self.client.containers.create(spec.image, name=name, **options)
            if self.storage.disk_quota:
                self.storage.limit_layer(name, upper_dir(container.attrs))
            if before_start is not None:
                before_start(container)
            container.start()
        except (docker.errors.APIError, ServiceUnavailable) as exc:
            self._discard(name)
            if isinstance(exc, ServiceUnavailable):
                raise
            raise ServiceUnavailable(f"Docker could not start {spec.space_id}: {exc}") from exc
        container.reload()  # attributes from before the start carry no address yet
        return container

    def _run_options(self, spec: RunSpec, image: Any, data: str) -> dict[str, Any]:
        env = spec.container_env()
        image_env = image.attrs.get("Config", {}).get("Env") or []
        if not any(item.startswith("HOME=") for item in image_env):
            # uid 1000 has no passwd entry in most images, so HOME would be '/' (not writable).
            env.setdefault("HOME", "/tmp")
        labels = {
            ROLE_LABEL: ROLE_SPACE,
            SCOPE_LABEL: self.scope,
            SPACE_LABEL: str(spec.space_id),
            KEY_LABEL: spec.key,
            COMMIT_LABEL: spec.commit,
            PORT_LABEL: str(spec.app_port),
            SDK_LABEL: spec.sdk,
            CREATED_LABEL: f"{time.time():.6f}",
            HEALTH_LABEL: spec.health_path,
        }
        return {
            "hostname": spec.space_id.subdomain,
            "labels": labels,
            "environment": env,
            "user": f"{SPACE_UID}:{SPACE_UID}",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "init": True,
            "mem_limit": spec.memory,
            "memswap_limit": spec.memory,
            "nano_cpus": int(spec.cpus * 1e9),
            "pids_limit": spec.pids,
            "network": self.network,
            "cgroup_parent": self._cgroup_parent,
            "volumes": {data: {"bind": "/data", "mode": "rw"}},
            "log_config": docker.types.LogConfig(
                type="json-file", config={"max-size": "10m", "max-file": "3"}
            ),
        }

    def _discard(self, name: str) -> None:
        """Remove a container whose start failed (and its layer image), quietly."""
        upper = None
        try:
            upper = upper_dir(self.client.containers.get(name).attrs)
        except docker.errors.DockerException:
            pass
        try:
            self.client.api.remove_container(name, force=True, v=True)
        except docker.errors.APIError:
            pass
        self.storage.release_layer(name, upper)

    def resume(self, instance: Instance) -> Instance:
        container = self._container(instance.id)
        if self.storage.disk_quota:
            self.storage.ensure_layer(instance.name, upper_dir(container.attrs))
        container.start()
        container.reload()  # the address is only known once it runs
        return self._instance(container)

    def freeze(self, instance: Instance) -> None:
        # runc gives up ("unable to freeze") when the cgroup's tasks keep waking while it
        # freezes, which a busy host makes likelier; the next try usually holds.
        container = self._container(instance.id)
        for attempt in range(FREEZE_TRIES):
            try:
                container.pause()
                return
            except docker.errors.APIError as exc:
                if "unable to freeze" not in str(exc) or attempt == FREEZE_TRIES - 1:
                    raise ServiceUnavailable(f"could not freeze {instance.name}: {exc}") from exc
                time.sleep(0.2 * (attempt + 1))

    def thaw(self, instance: Instance) -> Instance:
        container = self._container(instance.id)
        container.unpause()
        container.reload()
        return self._instance(container)

    def stop(self, instance: Instance, drain_s: float = 0.0) -> None:
        if drain_s > 0:
            time.sleep(drain_s)
        try:
            container = self._container(instance.id)
            if container.status == "paused":  # frozen processes cannot act on SIGTERM
                container.unpause()
            container.stop(timeout=STOP_TIMEOUT_S)
        except (NotFound, docker.errors.NotFound):
            pass

    def remove(self, instance: Instance) -> None:
        upper = None
        try:
            upper = upper_dir(self.client.containers.get(instance.id).attrs)
            self.client.api.remove_container(instance.id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
            return  # the other removal releases the layer
        self.storage.release_layer(instance.name, upper)

    def usage(self, instance: Instance) -> Usage | None:
        return cgroup_usage(instance.pid) if instance.pid else None

    def collect_garbage(self) -> list[str]:
        """Release the layer images of containers that no longer exist (removed by hand, or
        a crash between create and the bookkeeping): no mount, loop device or image leaks."""
        gone = []
        for name in sorted(self.storage.layer_names()):
            try:
                self.client.containers.get(name)
            except docker.errors.NotFound:
                self.storage.release_layer(name, None)
                gone.append(name)
        return gone

    def refresh(self, instance_id: str) -> Instance | None:
        try:
            return self._instance(self.client.containers.get(instance_id))
        except docker.errors.NotFound:
            return None

    def list_instances(self, space_key: str | None = None) -> list[Instance]:
        labels = [f"{ROLE_LABEL}={ROLE_SPACE}", f"{SCOPE_LABEL}={self.scope}"]
        if space_key is not None:
            labels.append(f"{KEY_LABEL}={space_key}")
        found = []
        for summary in self.client.api.containers(all=True, filters={"label": labels}):
            try:
                found.append(self._instance(self.client.containers.get(summary["Id"])))
            except docker.errors.NotFound:
                continue  # removed between the listing and its inspection
            except (KeyError, ValueError):
                continue  # labels tampered with: not ours to manage
        return sorted(found, key=lambda i: i.created)

    # -- health --------------------------------------------------------------------------

    def wait_healthy(
        self, instance: Instance, timeout: float,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        started = time.monotonic()
        deadline = started + timeout
        inspected = float("-inf")
        current = instance
        while True:
            if cancelled is not None and cancelled():
                raise StartCancelled(f"the start of {instance.space} was cancelled")
            # The app is probed every poll (it answers the moment it listens: every poll
            # interval is on the critical path of a push); the engine is asked whether the
            # container still runs less often, as that answer changes rarely.
            if not current.upstream or time.monotonic() - inspected >= INSPECT_EVERY_S:
                inspected = time.monotonic()
                found = self.refresh(instance.id)
                if found is None:
                    raise RuntimeFailure(None, False, [], "the container vanished").to_error(
                        instance.space
                    )
                if not found.running:
                    raise self.inspect_failure(found).to_error(instance.space)
                current = found
            if self.probe(current):
                instance.upstream = current.upstream
                return
            if time.monotonic() >= deadline:
                found = self.refresh(instance.id)  # a crash since the last look is the reason
                if found is not None and not found.running:
                    raise self.inspect_failure(found).to_error(instance.space)
                failure = self.inspect_failure(current)
                failure.reason = (
                    f"did not answer HTTP on port {current.app_port} within {timeout:g}s"
                )
                raise failure.to_error(instance.space)
            # Quick at first (most apps answer within seconds), then once a second: many
            # Spaces slow to start must not keep the engine busy with inspections.
            slow = time.monotonic() - started > SLOW_START_S
            time.sleep(max(self.poll_s, 1.0) if slow else self.poll_s)

    def inspect_failure(self, instance: Instance) -> RuntimeFailure:
        try:
            container = self._container(instance.id)
        except NotFound:
            return RuntimeFailure(None, False, [], "the container vanished")
        state = container.attrs.get("State", {})
        try:
            tail = container.logs(tail=LAST_LINES).decode("utf-8", "replace").splitlines()
        except docker.errors.APIError:
            tail = []  # being removed (409): its state still says why it stopped
        if state.get("Running"):
            return RuntimeFailure(None, False, tail)
        return RuntimeFailure(
            exit_code=int(state.get("ExitCode", -1)),
            oom_killed=bool(state.get("OOMKilled")),
            last_lines=tail,
        )

    def logs(self, instance: Instance, follow: bool = False) -> Iterator[str]:
        container = self._container(instance.id)
        return log_lines(container.logs(stream=True, follow=follow))

    # -- engine events -------------------------------------------------------------------

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        labels = [f"{ROLE_LABEL}={ROLE_SPACE}", f"{SCOPE_LABEL}={self.scope}"]
        return follow_events(self.client, labels, stop)

    # -- volumes -------------------------------------------------------------------------

    def remove_volume(self, space_id: SpaceId) -> None:
        self.volumes.remove(space_id)

    # -- helpers -------------------------------------------------------------------------

    def _image(self, ref: str) -> Any:
        try:
            return self.client.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise NotFound(
                f"image {ref} is not on this Docker engine", hint="rebuild the Space"
            ) from exc

    def _container(self, container_id: str) -> Container:
        try:
            return self.client.containers.get(container_id)
        except docker.errors.NotFound as exc:
            raise NotFound(f"container {container_id[:12]} no longer exists") from exc

    def _instance(self, container: Container) -> Instance:
        labels = container.labels
        port = int(labels[PORT_LABEL])
        networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        ip = (networks.get(self.network) or {}).get("IPAddress") or ""
        state = container.attrs.get("State", {})
        frozen = bool(state.get("Paused"))
        running = bool(state.get("Running")) and not frozen
        return Instance(
            id=container.id or "",
            name=container.name or "",
            space=labels[SPACE_LABEL],
            space_key=labels[KEY_LABEL],
            commit=labels.get(COMMIT_LABEL, ""),
            app_port=port,
            sdk=labels.get(SDK_LABEL, ""),
            created=float(labels.get(CREATED_LABEL) or 0),
            running=running,
            frozen=frozen,
            upstream=f"http://{ip}:{port}" if running and ip else None,
            health_path=labels.get(HEALTH_LABEL, "/"),
            image=str(container.attrs.get("Config", {}).get("Image", "")),
            pid=int(state.get("Pid") or 0),
            standby=labels.get(STANDBY_LABEL, ""),
        )
