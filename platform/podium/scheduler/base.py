"""The runtime backend contract. A backend runs containers; it never builds images and never
writes routes or the store (the ``Scheduler`` does the bookkeeping)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from podium.errors import SpaceRuntimeError
from podium.names import SpaceId
from podium.scheduler.budget import Usage
from podium.scheduler.placement import Placement
from podium.scheduler.spec import RunSpec

# Labels every Space container carries; reconciliation trusts only these.
ROLE_LABEL = "podium.role"
ROLE_SPACE = "space"
SPACE_LABEL = "podium.space"
KEY_LABEL = "podium.space_key"
COMMIT_LABEL = "podium.commit"
PORT_LABEL = "podium.app_port"
SDK_LABEL = "podium.sdk"
CREATED_LABEL = "podium.created"
# On a warm standby (scheduler/standby.py): the fingerprint of everything its container was
# created with; it is used for a deploy only when that deploy's fingerprint is the same.
STANDBY_LABEL = "podium.standby"

LAST_LINES = 50


@dataclass(slots=True)
class Instance:
    """One running (or stopped) copy of a Space."""

    id: str
    name: str
    space: str  # owner/name as spelled
    space_key: str
    commit: str
    app_port: int
    sdk: str
    created: float
    running: bool = False  # its processes run (not stopped, not frozen)
    frozen: bool = False  # paused by the cgroup freezer: memory kept, no CPU
    upstream: str | None = None
    health_path: str = "/"
    image: str = ""
    pid: int = 0  # the container's init process on the host (0 when not running)
    # Set on a container born as a warm standby (its STANDBY_LABEL): waiting for code, or
    # promoted by a deploy (then the record names it).
    standby: str = ""


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """A Space container stopped on its own or by someone: the engine's die / oom."""

    container_id: str
    space_key: str
    action: str  # "die" or "oom"
    at: float  # when the engine saw it (seconds since the epoch)


@dataclass(slots=True)
class RuntimeFailure:
    exit_code: int | None
    oom_killed: bool
    last_lines: list[str] = field(default_factory=list)
    reason: str = ""
    memory_limit: str = ""  # the Space's limit, named in an OOM message when known

    def describe(self) -> str:
        parts = []
        if self.oom_killed:
            limit = f"limit {self.memory_limit}" if self.memory_limit else "OOM-killed"
            parts.append(f"ran out of memory ({limit})")
        elif self.exit_code is not None:
            parts.append(f"exited with code {self.exit_code}")
        if self.reason:
            parts.append(self.reason)
        return "; ".join(parts) or "failed"

    def to_error(self, space: str) -> SpaceRuntimeError:
        hint = (
            "raise the Space's memory limit or use less memory"
            if self.oom_killed
            else "check the run logs; the last lines are attached"
        )
        return SpaceRuntimeError(
            f"Space {space} {self.describe()}",
            exit_code=self.exit_code, oom_killed=self.oom_killed,
            last_lines=self.last_lines, hint=hint,
        )


def log_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """An engine's log stream (chunks cut anywhere) as text lines; a broken UTF-8 byte from
    a Space's output is replaced, never fatal."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace").rstrip("\r")


def health_client() -> httpx.Client:
    """Short timeouts (a probe repeats every 50 ms), and no proxy from the environment: a
    Space's address is never behind the host's HTTP proxy."""
    return httpx.Client(timeout=httpx.Timeout(2.0, connect=1.0), trust_env=False)


class Backend(ABC):
    """Runs Space containers somewhere. Chosen by name from ``Settings.scheduler_backend``."""

    name: ClassVar[str]
    # Whether ``freeze`` exists (light sleep); without it the scheduler's sleep removes the
    # Space's instance at once (deep sleep) and a wake starts a fresh one.
    can_freeze: ClassVar[bool] = True
    # Whether Spaces land on one of several nodes, so ``placement`` has something to say
    # (read from the class: a page showing placement never builds a single-host backend).
    places_on_nodes: ClassVar[bool] = False

    @abstractmethod
    def ensure_network(self) -> None:
        """Create (idempotently) the isolated network Spaces run in."""

    @abstractmethod
    def start(self, spec: RunSpec) -> Instance:
        """Create and start a new container for ``spec``; returns once it is started."""

    @abstractmethod
    def resume(self, instance: Instance) -> Instance:
        """Start a stopped container again (fast wake: filesystem and page cache stay warm)."""

    @abstractmethod
    def wait_healthy(
        self, instance: Instance, timeout: float,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        """Block until the app answers HTTP without a 5xx. Raises SpaceRuntimeError at once
        if the container exits, or after ``timeout`` seconds; StartCancelled (errors) as
        soon as ``cancelled()`` is true."""

    # The health requests' client (``health_client``), made by each backend's constructor.
    _http: httpx.Client

    def probe(self, instance: Instance) -> bool:
        """One health request: does the app answer right now (anything but a 5xx)?"""
        if not instance.upstream:
            return False
        try:
            answer = self._http.get(instance.upstream + instance.health_path)
        except httpx.HTTPError:
            return False
        return answer.status_code < 500

    @abstractmethod
    def freeze(self, instance: Instance) -> None:
        """Suspend every process (light sleep): no CPU, memory kept, thawed in milliseconds."""

    @abstractmethod
    def thaw(self, instance: Instance) -> Instance:
        """Resume a frozen container."""

    @abstractmethod
    def stop(self, instance: Instance, drain_s: float = 0.0) -> None:
        """Stop (keeping the container) after ``drain_s`` seconds for in-flight requests."""

    @abstractmethod
    def remove(self, instance: Instance) -> None:
        """Stop and delete the container (never the volume)."""

    @abstractmethod
    def refresh(self, instance_id: str) -> Instance | None:
        """Current state of one container, or None when it no longer exists."""

    @abstractmethod
    def list_instances(self, space_key: str | None = None) -> list[Instance]:
        """Every Space container (running or stopped), optionally of one Space."""

    @abstractmethod
    def logs(self, instance: Instance, follow: bool = False) -> Iterator[str]:
        """The container's output, one line at a time (without the newline)."""

    @abstractmethod
    def inspect_failure(self, instance: Instance) -> RuntimeFailure:
        """Why a container stopped: exit code, OOM flag and its last lines."""

    @abstractmethod
    def remove_volume(self, space_id: SpaceId) -> None:
        """Delete a Space's persistent /data (only when the Space is deleted)."""

    def usage(self, instance: Instance) -> Usage | None:
        """What the container uses now (memory, CPU time), for the memory budget; None
        when it is unknown (the budget then leaves the Space alone)."""
        return None

    def placement(self, space_id: SpaceId, instance_id: str | None) -> Placement | None:
        """Which node runs the instance ``instance_id`` (the Space's current one, None when
        none runs) and whether the Space's /data pins it to a node; None on a single host."""
        return None

    def collect_garbage(self) -> list[str]:
        """Free what containers that no longer exist left behind (mounts, images); returns
        their names. Backends without such leftovers keep this default."""
        return []

    # -- warm standby (scheduler/standby.py; single host only) -----------------------------
    # A backend without it keeps these defaults: every deploy starts a new container.
    can_standby: ClassVar[bool] = False

    def standby_fit(self, spec: RunSpec) -> str | None:
        """The fingerprint a standby for ``spec`` carries (None: no standby can serve it)."""
        return None

    def start_standby(self, spec: RunSpec) -> Instance | None:
        """Start a standby from ``spec``'s image that imports the SDK and waits for code."""
        return None

    def wait_standby(self, instance: Instance, timeout: float) -> bool:
        """Whether the standby said it is ready (its SDK imported) within ``timeout``."""
        return False

    def promote_standby(self, instance: Instance, spec: RunSpec) -> Instance:
        """Give the standby ``spec``'s code and let it run the app."""
        raise NotImplementedError

    def standby_instances(self) -> list[Instance]:
        """Every container born as a standby (waiting, or promoted by a deploy)."""
        return []

    def standby_origin(self, instance: Instance) -> tuple[str, str] | None:
        """(image, commit) a promoted standby runs, read from the container itself."""
        return None

    def events(self, stop: threading.Event) -> Iterator[EngineEvent]:
        """Space containers stopping, as the engine reports them, until ``stop`` is set;
        reconnects after the engine restarts. A backend without events yields none (the
        periodic reconcile still finds dead containers)."""
        stop.wait()
        return iter(())
