"""Reconciliation: make the route table and the scheduler's records match the containers
the engine really has, after a controller restart, a lost Redis or containers removed by
hand. The engine's labels are the truth; the records add what labels cannot carry (variables,
limits, the sleeping or paused intent)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from podium.names import SpaceId
from podium.scheduler.base import Instance
from podium.scheduler.events import mark_crashed
from podium.scheduler.records import Desired, SpaceRecord
from podium.scheduler.spec import RunSpec, route_for
from podium.spaces.stage import Stage

if TYPE_CHECKING:
    from podium.scheduler.service import Scheduler

_STAGE_OF = {
    Desired.SLEEPING: Stage.SLEEPING,
    Desired.PAUSED: Stage.PAUSED,
    Desired.FAILED: Stage.RUNTIME_ERROR,
}


@dataclass(slots=True)
class ReconcileReport:
    adopted: list[str] = field(default_factory=list)  # space keys now routed to a container
    removed: list[str] = field(default_factory=list)  # container names removed as stale
    failed: list[str] = field(default_factory=list)  # space keys whose container had died
    missing: list[str] = field(default_factory=list)  # space keys whose container vanished
    busy: list[str] = field(default_factory=list)  # space keys skipped: an operation runs
    released: list[str] = field(default_factory=list)  # storage of vanished containers


def reconcile(sched: Scheduler) -> ReconcileReport:
    """Make routes and records match the containers the engine really has (after a
    controller restart, a lost Redis, or containers removed by hand)."""
    result = ReconcileReport()
    by_key: dict[str, list[Instance]] = {}
    for instance in sched.backend.list_instances():
        by_key.setdefault(instance.space_key, []).append(instance)
    for key in sorted(set(by_key) | set(sched.records.keys())):
        # A Space mid-deploy has two containers on purpose: leave it to its deploy.
        with sched.locked(key, wait=0) as got:
            if not got:
                result.busy.append(key)
                continue
            # No start runs while we hold the lock: a note of one is a dead starter's.
            sched.records.forget_start(key)
            # The standby waiting for code is the warm module's (it sweeps it): not a
            # stale duplicate, and never a candidate to serve.
            standby = sched.records.standby(key)
            found = [i for i in by_key.get(key, []) if not standby or i.id != standby]
            _reconcile_one(sched, key, found, result)
    result.released = sched.backend.collect_garbage()
    return result


def _reconcile_one(
    sched: Scheduler, key: str, found: list[Instance], result: ReconcileReport
) -> None:
    record = sched.records.get(key)
    # A container born as a standby serves only once a deploy made it the Space's (its
    # record names it) or, the record lost, when it answers: one still waiting never does
    # (an orphan whose note expired: removed here like any stale container).
    orphans = [i for i in found if i.standby and not (record and record.container == i.id)
               and not (i.running and sched.backend.probe(i))]
    candidates = [i for i in found if i not in orphans]
    running = [i for i in candidates if i.running]
    keep: Instance | None = None
    if running:  # the newest that answers, else the newest (it may still be starting)
        keep = next((i for i in reversed(running) if sched.backend.probe(i)), running[-1])
    elif candidates:
        known = [i for i in candidates if record and i.id == record.container]
        keep = known[0] if known else candidates[-1]
    for instance in found:
        if instance is not keep:
            sched.backend.remove(instance)
            result.removed.append(instance.name)
    if keep is None and record is None:
        return
    spec = record.spec if record else spec_from_instance(sched, keep)  # type: ignore[arg-type]
    report = sched.reporter(key, None)
    if keep is not None and keep.running:
        sched.routes.put(route_for(spec, keep.upstream, Stage.RUNNING))
        same = record is not None and record.container == keep.id
        started = record.started_at if record and same else time.time()
        sched.records.save(SpaceRecord(spec, Desired.RUNNING, keep.id, started))
        result.adopted.append(key)
        return
    desired = record.desired if record else Desired.SLEEPING
    if keep is not None and keep.frozen and desired is Desired.RUNNING:
        desired = Desired.SLEEPING  # frozen by a sleep whose bookkeeping was lost
    if desired is Desired.RUNNING and keep is not None:
        mark_crashed(sched, spec, keep)
        result.failed.append(key)
        return
    if desired is Desired.RUNNING:  # removed behind our back: start on the next request
        desired = Desired.SLEEPING
        result.missing.append(key)
        report(Stage.SLEEPING, "the container disappeared; it starts on the next request")
    sched.routes.put(route_for(spec, None, _STAGE_OF[desired]))
    slept_at = record.slept_at if record and record.slept_at else time.time()
    sched.records.save(
        SpaceRecord(spec, desired, keep.id if keep else None, 0.0, slept_at=slept_at)
    )


def spec_from_instance(sched: Scheduler, instance: Instance) -> RunSpec:
    """A spec for a container found without a record (Redis was lost): enough to route and
    resume it; the Space's variables come back with its next deploy."""
    image, commit = instance.image, instance.commit
    if instance.standby:  # its labels name no commit and its engine image the old one
        image, commit = sched.backend.standby_origin(instance) or (image, commit)
    return RunSpec.for_space(
        sched.settings, SpaceId.parse(instance.space), image,
        app_port=instance.app_port, sdk=instance.sdk, commit=commit,
    )
