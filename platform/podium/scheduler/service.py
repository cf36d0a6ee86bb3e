"""The Scheduler: health-gated blue/green deploys, sleep/wake, pause, reconciliation.

It owns the route table's writes and its own records in Redis; the backend only runs
containers. Stage changes go out through callbacks so the controller updates the store (the
scheduler never touches it). One operation per Space at a time, across processes, through a
Redis lock: a wake never races a deploy, and reconciliation skips a Space being deployed
rather than mistaking its half-started new container for a stale duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from redis.exceptions import LockError

from podium.config import Settings
from podium.errors import NotFound, PodiumError, SpaceRuntimeError
from podium.names import SpaceId
from podium.proxy.routes import Route, RouteTable
from podium.scheduler.base import Backend, Instance
from podium.scheduler.loop import run_forever
from podium.scheduler.records import Desired, SpaceRecord, SpaceRecords
from podium.scheduler.spec import RunSpec
from podium.spaces.stage import Stage

log = logging.getLogger(__name__)

OnStage = Callable[[Stage, str | None], None]
OnChange = Callable[[str, Stage, str | None], None]
SecretsProvider = Callable[[str], dict[str, str]]

# Locks outlive the longest operation they guard; a crashed holder frees them by expiry.
_LOCK_SLACK_S = 120.0
_SHORT_LOCK_S = 120.0


@dataclass(slots=True)
class ReconcileReport:
    adopted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)


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
        prefix: str = "podium",
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.routes = routes
        self.records = SpaceRecords(conn, prefix)
        self.secrets_provider = secrets_provider or (lambda _key: {})
        self.on_change = on_change
        self.drain_s = drain_s

    # -- deploys -------------------------------------------------------------------------

    def deploy(self, spec: RunSpec, on_stage: OnStage | None = None) -> Instance:
        """Start ``spec`` beside any running version, switch the route once it is healthy,
        then retire the old one. On failure the old version keeps serving."""
        report = self._reporter(spec.key, on_stage)
        with self._locked(spec.key, spec.startup_timeout + _LOCK_SLACK_S):
            return self._deploy(spec, report)

    def restart(self, space_key: str, on_stage: OnStage | None = None) -> Instance:
        """Redeploy the last deployed spec (fresh container, fresh secrets)."""
        record = self._record(space_key)
        return self.deploy(self._with_secrets(record.spec), on_stage)

    def _deploy(self, spec: RunSpec, report: OnStage) -> Instance:
        old = self._serving(spec.key)
        old_record = self.records.get(spec.key)
        starting = Stage.RUNNING_APP_STARTING if old else Stage.APP_STARTING
        report(starting, None)
        self.routes.put(self._route(spec, old.upstream if old else None, starting))
        new: Instance | None = None
        try:
            new = self.backend.start(spec)
            self.backend.wait_healthy(new, spec.startup_timeout)
        except PodiumError as err:
            if new is not None:
                self.backend.remove(new)
            self._deploy_failed(spec, old, old_record, report, err)
            raise
        except BaseException:
            if new is not None:
                self.backend.remove(new)
            raise
        self.routes.put(self._route(spec, new.upstream, Stage.RUNNING))
        self.records.save(SpaceRecord(spec, Desired.RUNNING, new.id, time.time()))
        report(Stage.RUNNING, None)
        self._retire(spec.key, keep=new.id)
        return new

    def _deploy_failed(
        self, spec: RunSpec, old: Instance | None, old_record: SpaceRecord | None,
        report: OnStage, err: PodiumError,
    ) -> None:
        detail = _detail(err)
        if old is not None:
            serving = old_record.spec if old_record else spec
            self.routes.put(self._route(serving, old.upstream, Stage.RUNNING))
            report(Stage.RUNNING, detail)
            return
        self.routes.put(self._route(spec, None, Stage.RUNTIME_ERROR))
        # Remember the spec anyway: "restart" after fixing a secret must know what to run.
        self.records.save(SpaceRecord(spec, Desired.FAILED, None, 0.0))
        report(Stage.RUNTIME_ERROR, detail)

    def _retire(self, space_key: str, keep: str) -> None:
        others = [i for i in self.backend.list_instances(space_key) if i.id != keep]
        if any(i.running for i in others):
            time.sleep(self.drain_s)  # requests already sent to the old version finish
        for instance in others:
            self.backend.remove(instance)

    # -- sleep, wake, pause --------------------------------------------------------------

    def sleep(self, space_key: str, *, idle_before: float | None = None) -> bool:
        """Stop a running Space, keeping its container, image and volume; the proxy shows a
        waking page and asks for a wake on the next request. With ``idle_before``, only
        if there was no activity since then (re-checked under the lock)."""
        with self._locked(space_key, _SHORT_LOCK_S, wait=0) as got:
            record = self.records.get(space_key)
            if not got or record is None or record.desired is not Desired.RUNNING:
                return False
            if idle_before is not None and not self._idle(space_key, record, idle_before):
                return False
            self.routes.put(self._route(record.spec, None, Stage.SLEEPING))
            for instance in self.backend.list_instances(space_key):
                if instance.running:
                    self.backend.stop(instance)
            self.records.set_desired(space_key, Desired.SLEEPING)
            self._reporter(space_key, None)(Stage.SLEEPING, None)
            return True

    def wake(self, space_key: str, on_stage: OnStage | None = None) -> Instance | None:
        """Bring a sleeping Space back (None if it is paused, failed or unknown)."""
        report = self._reporter(space_key, on_stage)
        record = self.records.get(space_key)
        if record is None:
            return None
        with self._locked(space_key, record.spec.startup_timeout + _LOCK_SLACK_S):
            record = self.records.get(space_key)
            if record is None or record.desired in (Desired.PAUSED, Desired.FAILED):
                return None
            current = self._serving(space_key)
            if current is not None:
                self.routes.put(self._route(record.spec, current.upstream, Stage.RUNNING))
                return current
            return self._start_again(record, report)

    def pause(self, space_key: str) -> None:
        """Stop the Space until someone unpauses it; requests do not wake it."""
        with self._locked(space_key, _SHORT_LOCK_S):
            record = self._record(space_key)
            self.routes.put(self._route(record.spec, None, Stage.PAUSED))
            for instance in self.backend.list_instances(space_key):
                if instance.running:
                    self.backend.stop(instance, self.drain_s)
            self.records.set_desired(space_key, Desired.PAUSED)
            self._reporter(space_key, None)(Stage.PAUSED, None)

    def unpause(self, space_key: str, on_stage: OnStage | None = None) -> Instance | None:
        record = self._record(space_key)
        self.records.set_desired(space_key, Desired.SLEEPING)
        self.routes.put(self._route(record.spec, None, Stage.SLEEPING))
        return self.wake(space_key, on_stage)

    def _start_again(self, record: SpaceRecord, report: OnStage) -> Instance:
        spec = record.spec
        report(Stage.APP_STARTING, None)
        self.routes.put(self._route(spec, None, Stage.APP_STARTING))
        stopped = self.backend.refresh(record.container) if record.container else None
        instance: Instance | None = None
        try:
            # The stopped container wakes faster than a fresh one (see bench/wake.py).
            if stopped is not None:
                instance = self.backend.resume(stopped)
            else:
                instance = self.backend.start(self._with_secrets(spec))
            self.backend.wait_healthy(instance, spec.startup_timeout)
        except PodiumError as err:
            if instance is not None or stopped is not None:
                self.backend.remove(instance or stopped)  # type: ignore[arg-type]
            self.routes.put(self._route(spec, None, Stage.RUNTIME_ERROR))
            self.records.save(SpaceRecord(spec, Desired.FAILED, None, 0.0))
            report(Stage.RUNTIME_ERROR, _detail(err))
            raise
        self.routes.put(self._route(spec, instance.upstream, Stage.RUNNING))
        self.records.save(SpaceRecord(spec, Desired.RUNNING, instance.id, time.time()))
        report(Stage.RUNNING, None)
        return instance

    # -- removal -------------------------------------------------------------------------

    def remove(self, space_key: str, *, delete_volume: bool = False) -> None:
        """Remove the Space's containers and route; its /data volume only on delete."""
        with self._locked(space_key, _SHORT_LOCK_S):
            for instance in self.backend.list_instances(space_key):
                self.backend.remove(instance)
            self.routes.remove(space_key)
            self.records.delete(space_key)
            if delete_volume:
                self.backend.remove_volume(SpaceId.parse(space_key))

    # -- idle and reconciliation ---------------------------------------------------------

    def idle_check(self, now: float | None = None) -> list[str]:
        """Put to sleep every running Space idle for longer than its sleep time."""
        now = time.time() if now is None else now
        slept = []
        for key in self.records.keys():
            record = self.records.get(key)
            if record is None or record.desired is not Desired.RUNNING:
                continue
            if record.spec.sleep_time <= 0 or not self._idle(key, record, now):
                continue
            if self.sleep(key, idle_before=now):
                slept.append(key)
        return slept

    def _idle(self, space_key: str, record: SpaceRecord, now: float) -> bool:
        if record.spec.sleep_time <= 0 or self.routes.open_streams(space_key) > 0:
            return False
        last = max(self.routes.last_activity(space_key) or 0.0, record.started_at)
        return now - last >= record.spec.sleep_time

    def reconcile(self) -> ReconcileReport:
        """Make routes and records match the containers the engine really has (after a
        controller restart, a lost Redis, or containers removed by hand)."""
        result = ReconcileReport()
        by_key: dict[str, list[Instance]] = {}
        for instance in self.backend.list_instances():
            by_key.setdefault(instance.space_key, []).append(instance)
        for key in sorted(set(by_key) | set(self.records.keys())):
            with self._locked(key, _SHORT_LOCK_S, wait=0) as got:
                if not got:
                    result.busy.append(key)
                    continue
                self._reconcile_one(key, by_key.get(key, []), result)
        return result

    def _reconcile_one(self, key: str, found: list[Instance], result: ReconcileReport) -> None:
        record = self.records.get(key)
        running = [i for i in found if i.running]
        keep: Instance | None = None
        if running:  # the newest that answers, else the newest (it may still be starting)
            keep = next((i for i in reversed(running) if self.backend.probe(i)), running[-1])
        elif found:
            known = [i for i in found if record and i.id == record.container]
            keep = known[0] if known else found[-1]
        for instance in found:
            if instance is not keep:
                self.backend.remove(instance)
                result.removed.append(instance.name)
        if record is None and keep is None:
            return
        spec = record.spec if record else self._spec_from(keep)  # type: ignore[arg-type]
        report = self._reporter(key, None)
        if keep is not None and keep.running:
            self.routes.put(self._route(spec, keep.upstream, Stage.RUNNING))
            started = record.started_at if record and record.container == keep.id else time.time()
            self.records.save(SpaceRecord(spec, Desired.RUNNING, keep.id, started))
            result.adopted.append(key)
            return
        desired = record.desired if record else Desired.SLEEPING
        container = keep.id if keep else None
        if desired is Desired.RUNNING and keep is not None:
            failure = self.backend.inspect_failure(keep)
            self.backend.remove(keep)
            self.routes.put(self._route(spec, None, Stage.RUNTIME_ERROR))
            self.records.save(SpaceRecord(spec, Desired.FAILED, None, 0.0))
            report(Stage.RUNTIME_ERROR, failure.to_error(str(spec.space_id)).message)
            result.failed.append(key)
            return
        if desired is Desired.RUNNING:  # removed behind our back: start on the next request
            desired = Desired.SLEEPING
            result.missing.append(key)
            report(Stage.SLEEPING, "the container disappeared; it starts on the next request")
        stage = {
            Desired.SLEEPING: Stage.SLEEPING,
            Desired.PAUSED: Stage.PAUSED,
            Desired.FAILED: Stage.RUNTIME_ERROR,
        }[desired]
        self.routes.put(self._route(spec, None, stage))
        self.records.save(SpaceRecord(spec, desired, container, 0.0))

    def _spec_from(self, instance: Instance) -> RunSpec:
        """A spec for a container found without a record (Redis was lost): enough to route
        and resume it; variables come back with the next deploy."""
        return RunSpec.for_space(
            self.settings, SpaceId.parse(instance.space), instance.image,
            app_port=instance.app_port, sdk=instance.sdk, commit=instance.commit,
        )

    # -- the loop ------------------------------------------------------------------------

    def run_forever(
        self, stop: threading.Event, *, idle_every: float = 30.0,
        reconcile_every: float = 300.0, wake_workers: int = 4,
    ) -> None:
        """Serve wake requests from the proxy and sleep idle Spaces until ``stop`` is set."""
        run_forever(self, stop, idle_every=idle_every, reconcile_every=reconcile_every,
                    wake_workers=wake_workers)

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

    def _record(self, space_key: str) -> SpaceRecord:
        record = self.records.get(space_key)
        if record is None:
            raise NotFound(f"Space {space_key} was never deployed", hint="push a commit first")
        return record

    def _with_secrets(self, spec: RunSpec) -> RunSpec:
        return spec.with_secrets(self.secrets_provider(spec.key))

    def _route(self, spec: RunSpec, upstream: str | None, stage: Stage) -> Route:
        return Route(
            space_key=spec.key,
            subdomain=spec.space_id.subdomain,
            owner=spec.space_id.owner,
            name=spec.space_id.name,
            upstream=upstream,
            sdk=spec.sdk,
            stage=stage.value,
            private=spec.private,
            disable_embedding=spec.disable_embedding,
            custom_headers=dict(spec.custom_headers),
        )

    def _reporter(self, space_key: str, on_stage: OnStage | None) -> OnStage:
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
    def _locked(self, space_key: str, ttl: float, wait: float | None = None) -> Iterator[bool]:
        lock = self.records.lock(space_key, ttl=ttl, wait=wait)
        got = bool(lock.acquire())
        try:
            yield got
        finally:
            if got:
                try:
                    lock.release()
                except LockError:
                    log.warning("lock for %s expired before release", space_key)


def _detail(err: PodiumError) -> str:
    if isinstance(err, SpaceRuntimeError) and err.last_lines:
        return err.message + "\n" + "\n".join(err.last_lines)
    return err.message
