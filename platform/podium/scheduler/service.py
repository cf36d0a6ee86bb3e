"""The Scheduler: health-gated blue/green deploys, sleep/wake, pause, reconciliation.

It owns the route table's writes and its own records in Redis; the backend only runs
containers. Stage changes go out through callbacks so the controller updates the store (the
scheduler never touches it). One operation per Space at a time, across processes, through a
Redis lock: a wake never races a deploy, and reconciliation skips a Space being deployed
rather than mistaking its half-started new container for a stale duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from podium.config import Settings
from podium.errors import NotFound, PodiumError, SpaceRuntimeError, StartCancelled
from podium.locks import LEASE_S, renewed
from podium.metrics.catalog import DEPLOY, WAKE
from podium.metrics.recorder import Recorder
from podium.names import SpaceId
from podium.routes import RouteTable
from podium.scheduler import idle, starts, warm
from podium.scheduler.base import Backend, Instance
from podium.scheduler.placement import Placement
from podium.scheduler.records import Desired, SpaceRecord, SpaceRecords
from podium.scheduler.spec import RunSpec, route_for
from podium.scheduler.starts import cancel_start, start_slots, start_watched, undo_cancelled
from podium.spaces.stage import Stage

log = logging.getLogger(__name__)

OnStage = starts.OnStage
OnChange = Callable[[str, Stage, str | None], None]
SecretsProvider = Callable[[str], dict[str, str]]


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        routes: RouteTable,
        conn: redis.Redis,
        *,
        secrets_provider: SecretsProvider | None = None,
        on_change: OnChange | None = None,
        drain_s: float = 2.0,
        freeze_s: float = 3600.0,
        prefix: str = "podium",
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.routes = routes
        self.records = SpaceRecords(conn, prefix)
        self.metrics = Recorder(conn)
        self.secrets_provider = secrets_provider or (lambda _key: {})
        self.on_change = on_change
        self.drain_s = drain_s
        self.slots = start_slots(settings.deploy_slots)
        # Sleep has two depths (scheduler/idle.py): first the Space is frozen (memory kept,
        # no CPU; wakes in milliseconds), later its container is removed (memory freed; a
        # wake then pays the app's start, seconds for Gradio). freeze_s=0: sleep removes
        # the container at once, never freezing. See bench/wake.py. A backend that cannot
        # freeze (Swarm) always sleeps deep.
        self.freeze_s = freeze_s if backend.can_freeze else 0.0

    # -- deploys -------------------------------------------------------------------------

    def deploy(
        self, spec: RunSpec, on_stage: OnStage | None = None, *,
        on_switch: starts.OnStep | None = None, on_ready: starts.OnStep | None = None,
        on_path: warm.OnPath | None = None,
    ) -> Instance:
        """Start ``spec`` beside any running version, switch the route once it is healthy
        (``starts.switch_to``: ``on_switch`` just before, ``on_ready`` once every proxy
        routes to it), then retire the old one. On failure the old version keeps serving.
        The container is the Space's warm standby when only the code changed
        (``scheduler/warm.py``; ``on_path`` is told which path was taken)."""
        report = self.reporter(spec.key, on_stage)
        with self.locked(spec.key):
            before = self.records.get(spec.key)
            new = self._deploy(spec, report, on_switch, on_ready, on_path)
        warm.after_deploy(self, spec, before)
        return new

    def restart(self, space_key: str, on_stage: OnStage | None = None) -> Instance:
        """Redeploy the last deployed spec (fresh container, fresh secrets)."""
        record = self._record(space_key)
        return self.deploy(self._with_secrets(record.spec), on_stage)

    def _deploy(self, spec: RunSpec, report: OnStage, on_switch: starts.OnStep | None = None,
                on_ready: starts.OnStep | None = None,
                on_path: warm.OnPath | None = None) -> Instance:
        began = time.monotonic()
        old = self._serving(spec.key)
        old_record = self.records.get(spec.key)
        starting = Stage.RUNNING_APP_STARTING if old else Stage.APP_STARTING
        report(starting, None)
        self.routes.put(route_for(spec, old.upstream if old else None, starting))
        since = self.records.begin_start(spec.key, spec.startup_timeout)
        try:
            new = start_watched(self, spec, since, warm.choose_start(self, spec, on_path))
        except StartCancelled:
            undo_cancelled(self, spec, old, old_record, since)
            raise
        except PodiumError as err:
            self._deploy_failed(spec, old, old_record, report, err)
            raise
        finally:
            self.records.end_start(spec.key, since)
        starts.switch_to(self, spec, new, report, on_switch, on_ready)
        self.metrics.observe(DEPLOY, time.monotonic() - began, kind="swap" if old else "first")
        self._retire(spec.key, keep=new.id)
        return new

    def cancel_start(self, space_key: str, show: Stage) -> bool:
        """Give up the Space's pending start (a deploy or a wake waiting for the app), at
        once and without its lock: its container is removed now and its starter lets go
        within a poll, restoring what served before (or a route showing ``show``). For
        delete, pause and a new push. Returns whether a start was pending."""
        return cancel_start(self, space_key, show)

    def _deploy_failed(
        self, spec: RunSpec, old: Instance | None, old_record: SpaceRecord | None,
        report: OnStage, err: PodiumError,
    ) -> None:
        detail = _detail(err)
        if old is not None:
            serving = old_record.spec if old_record else spec
            self.routes.put(route_for(serving, old.upstream, Stage.RUNNING))
            report(Stage.RUNNING, detail)
            return
        self.routes.put(route_for(spec, None, Stage.RUNTIME_ERROR))
        # Remember the spec anyway: "restart" after fixing a secret must know what to run.
        self.records.save(SpaceRecord(spec, Desired.FAILED, None, 0.0))
        report(Stage.RUNTIME_ERROR, detail)

    def _retire(self, space_key: str, keep: str) -> None:
        others = [i for i in self.backend.list_instances(space_key) if i.id != keep]
        running = [i for i in others if i.running]
        if running:
            self._drain(space_key, running)
        for instance in others:
            self._discard(instance)

    def _drain(self, space_key: str, leaving: list[Instance]) -> None:
        """Let a version the route no longer sends to finish what it was sent: wait until
        every proxy's data plane has the new route, then for requests in flight (and the
        Python proxy's route cache), then for websockets and event streams opened to it
        (a Gradio queue stream, a Streamlit session), up to ``settings.drain_timeout``."""
        self._move_traffic_off(space_key)
        deadline = time.monotonic() + self.settings.drain_timeout
        upstreams = [i.upstream for i in leaving if i.upstream]
        while any(self.routes.open_streams(space_key, upstream=u) for u in upstreams):
            if time.monotonic() >= deadline:
                log.info("%s: cutting streams still open to the old version", space_key)
                return
            time.sleep(0.25)

    def _move_traffic_off(self, space_key: str) -> None:
        """After a route change that takes traffic away from a container: wait until every
        proxy routes by the new table (each nginx applied it, the Python proxy's route cache
        expired) and the requests already sent to the container have finished."""
        if not self.routes.wait_applied(timeout=self.drain_s + 5):
            log.warning("a proxy did not apply the route change for %s in time", space_key)
        time.sleep(self.drain_s)

    # -- sleep, wake, pause --------------------------------------------------------------

    def sleep(self, space_key: str, *, idle_before: float | None = None) -> bool:
        """Freeze a running Space (or, with ``freeze_s=0``, remove its container), keeping
        image and volume; the proxy shows a waking page and asks for a wake on the next
        request. With ``idle_before``, only if there was no activity since then (re-checked
        under the lock)."""
        with self.locked(space_key, wait=0) as got:
            record = self.records.get(space_key)
            if not got or record is None or record.desired is not Desired.RUNNING:
                return False
            if idle_before is not None and not idle.is_idle(self, space_key, record,
                                                            idle_before):
                return False
            self.routes.put(route_for(record.spec, None, Stage.SLEEPING))
            # A frozen container would hang a request still sent to it instead of waking it.
            self._move_traffic_off(space_key)
            freeze = self.freeze_s > 0
            for instance in self.backend.list_instances(space_key):
                standby = bool(instance.standby) and instance.id != record.container
                if standby or not (freeze and instance.running and self._froze(instance)):
                    self._discard(instance)
            self.records.set_desired(
                space_key, Desired.SLEEPING, None if freeze else "", at=idle_before
            )
            self.reporter(space_key, None)(Stage.SLEEPING, None)
            return True

    def _froze(self, instance: Instance) -> bool:
        """Freeze, or say it failed (the caller then removes the container: deep sleep)."""
        try:
            self.backend.freeze(instance)
        except PodiumError as err:
            log.warning("%s; removing it instead", err.message)
            return False
        return True

    def wake(self, space_key: str, on_stage: OnStage | None = None) -> Instance | None:
        """Bring a sleeping Space back (None if it is paused, failed or unknown)."""
        report = self.reporter(space_key, on_stage)
        record = self.records.get(space_key)
        if record is None:
            return None
        with self.locked(space_key):
            record = self.records.get(space_key)
            if record is None or record.desired in (Desired.PAUSED, Desired.FAILED):
                return None
            current = self._serving(space_key)
            if current is not None:
                self.routes.put(route_for(record.spec, current.upstream, Stage.RUNNING))
                return current
            return self._start_again(record, report)

    def pause(self, space_key: str) -> None:
        """Stop the Space until someone unpauses it; requests do not wake it."""
        with self.locked(space_key):
            record = self._record(space_key)
            self.routes.put(route_for(record.spec, None, Stage.PAUSED))
            found = self.backend.list_instances(space_key)
            if any(i.running for i in found):
                self._move_traffic_off(space_key)
            for instance in found:
                self._discard(instance)
            self.records.set_desired(space_key, Desired.PAUSED, "")
            self.reporter(space_key, None)(Stage.PAUSED, None)

    def unpause(self, space_key: str, on_stage: OnStage | None = None) -> Instance | None:
        record = self._record(space_key)
        self.records.set_desired(space_key, Desired.SLEEPING)
        self.routes.put(route_for(record.spec, None, Stage.SLEEPING))
        return self.wake(space_key, on_stage)

    def _start_again(self, record: SpaceRecord, report: OnStage) -> Instance:
        began = time.monotonic()
        spec = record.spec
        report(Stage.APP_STARTING, None)
        self.routes.put(route_for(spec, None, Stage.APP_STARTING))
        stopped = self.backend.refresh(record.container) if record.container else None

        def start(spec: RunSpec) -> Instance:
            # Thawing takes milliseconds; restarting the stopped container beats a fresh
            # one as its filesystem and page cache are warm (see bench/wake.py).
            if stopped is not None and stopped.frozen:
                return self.backend.thaw(stopped)
            if stopped is not None:
                return self.backend.resume(stopped)
            return self.backend.start(self._with_secrets(spec))

        since = self.records.begin_start(spec.key, spec.startup_timeout)
        try:
            instance = start_watched(self, spec, since, start)
        except StartCancelled:
            if stopped is not None:
                self.backend.remove(stopped)
            undo_cancelled(self, spec, None, record, since)
            raise
        except PodiumError as err:
            if stopped is not None:
                self.backend.remove(stopped)
            self.routes.put(route_for(spec, None, Stage.RUNTIME_ERROR))
            self.records.save(SpaceRecord(spec, Desired.FAILED, None, 0.0))
            report(Stage.RUNTIME_ERROR, _detail(err))
            raise
        finally:
            self.records.end_start(spec.key, since)
        self.routes.put(route_for(spec, instance.upstream, Stage.RUNNING))
        self.records.save(SpaceRecord(spec, Desired.RUNNING, instance.id, time.time()))
        report(Stage.RUNNING, None)
        depth = "light" if stopped is not None and stopped.frozen else "deep"
        self.metrics.observe(WAKE, time.monotonic() - began, depth=depth)
        return instance

    # -- removal -------------------------------------------------------------------------

    def remove(self, space_key: str, *, delete_volume: bool = False) -> None:
        """Remove the Space's containers and route; its /data volume only on delete."""
        with self.locked(space_key):
            for instance in self.backend.list_instances(space_key):
                self.backend.remove(instance)
            self.routes.remove(space_key)
            self.records.delete(space_key)
            if delete_volume:
                self.backend.remove_volume(SpaceId.parse(space_key))

    # -- idle and reconciliation ---------------------------------------------------------

    def idle_check(self, now: float | None = None) -> list[str]:
        """Freeze the idle running Spaces, remove the containers of those asleep for their
        sleep time or over the memory budget (scheduler/idle.py). Returns the Spaces frozen
        (or put to sleep) by this pass. Standbys whose window ended go first (warm.py)."""
        if warm.enabled(self):
            warm.sweep(self)
        return idle.idle_check(self, now)

    # -- logs and lookups ----------------------------------------------------------------

    def current(self, space_key: str) -> Instance | None:
        """The container serving (or last serving) the Space."""
        record = self.records.get(space_key)
        if record and record.container:
            found = self.backend.refresh(record.container)
            if found is not None:
                return found
        instances = self.backend.list_instances(space_key)
        return instances[-1] if instances else None

    def placement(self, space_key: str) -> Placement | None:
        """The node the Space runs on and what pins it there (None on a single host)."""
        if not self.backend.places_on_nodes:
            return None
        # The instance its record names: none while asleep (deep), paused or failed. The
        # backend asks the engine for the rest, so it alone maps an unreachable engine.
        record = self.records.get(space_key)
        container = record.container if record is not None else None
        return self.backend.placement(SpaceId.parse(space_key), container or None)

    def stream_logs(self, space_key: str, follow: bool = True) -> Iterator[str]:
        instance = self.current(space_key)
        if instance is None:
            raise NotFound(f"Space {space_key} has no container", hint="deploy or wake it first")
        return self.backend.logs(instance, follow=follow)

    # -- helpers -------------------------------------------------------------------------

    def _serving(self, space_key: str) -> Instance | None:
        current = self.current(space_key)
        if current is not None and current.running:
            return current
        running = [i for i in self.backend.list_instances(space_key) if i.running]
        return running[-1] if running else None

    def _discard(self, instance: Instance) -> None:
        """Stop gracefully (SIGTERM, so the app can flush /data), then delete."""
        self.backend.stop(instance)
        self.backend.remove(instance)

    def _record(self, space_key: str) -> SpaceRecord:
        record = self.records.get(space_key)
        if record is None:
            raise NotFound(f"Space {space_key} was never deployed", hint="push a commit first")
        return record

    def _with_secrets(self, spec: RunSpec) -> RunSpec:
        return spec.with_secrets(self.secrets_provider(spec.key))

    def reporter(self, space_key: str, on_stage: OnStage | None) -> OnStage:
        def report(stage: Stage, detail: str | None) -> None:
            try:
                if on_stage is not None:
                    on_stage(stage, detail)
                elif self.on_change is not None:
                    self.on_change(space_key, stage, detail)
            except Exception:  # the store being down must not strand a half-done deploy
                log.exception("stage callback failed for %s (%s)", space_key, stage)

        return report

    @contextmanager
    def locked(self, space_key: str, wait: float | None = None) -> Iterator[bool]:
        """One operation per Space, however long it takes (a start waits out the app's
        startup timeout): renewed while this process works on it, freed within LEASE_S
        when the process dies holding it."""
        with renewed(self.records.lock(space_key, ttl=LEASE_S, wait=wait)) as got:
            yield got


def _detail(err: PodiumError) -> str:
    if isinstance(err, SpaceRuntimeError) and err.last_lines:
        return err.message + "\n" + "\n".join(err.last_lines)
    return err.message
