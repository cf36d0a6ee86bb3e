"""Crashes and OOM kills of running Spaces, seen within seconds: the scheduler follows the
engine's die / oom events (``Backend.events``) instead of waiting for the next reconcile,
during which the route kept sending visitors to a dead container (502s).

Only the death of a Space's *current* container counts: the container its record names,
while the record wants it running. A replaced version being drained, a container the
platform itself froze, stopped or removed (sleep, pause, delete, reconcile) is not a
crash: those operations hold the Space's lock and change the record before they let go,
so an event arriving meanwhile is judged again once the lock is free.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING

from podium.scheduler.base import EngineEvent, Instance, RuntimeFailure
from podium.scheduler.records import Desired, SpaceRecord
from podium.scheduler.spec import RunSpec, route_for
from podium.spaces.stage import Stage

if TYPE_CHECKING:
    from podium.scheduler.service import Scheduler

log = logging.getLogger(__name__)

RETRY_S = 1.0  # how soon an event for a Space busy with an operation is judged again
# How long a die may be followed by the engine starting the container again (docker
# restart takes a moment between the two) before it counts as a crash.
RESTART_GRACE_S = 1.5


def mark_crashed(sched: Scheduler, spec: RunSpec, instance: Instance | None) -> str:
    """Record a Space whose current container died: RUNTIME_ERROR with why (OOM and its
    limit, or the exit code) and its last lines, the container removed, the route showing
    the error page. Returns the detail recorded."""
    failure = (sched.backend.inspect_failure(instance) if instance is not None
               else RuntimeFailure(None, False, [], "the container vanished"))
    if failure.oom_killed:
        failure.memory_limit = spec.memory
    error = failure.to_error(str(spec.space_id))
    detail = "\n".join([error.message, *error.last_lines])
    if instance is not None:
        sched.backend.remove(instance)
    sched.routes.put(route_for(spec, None, Stage.RUNTIME_ERROR))
    sched.records.save(SpaceRecord(spec, Desired.FAILED))
    sched.reporter(spec.key, None)(Stage.RUNTIME_ERROR, detail)
    return detail


def judge(sched: Scheduler, event: EngineEvent) -> bool | None:
    """Act on one event: True when it was a crash (recorded), False when it was not,
    None when the Space is busy with an operation (judge it again later)."""
    if event.action == "moved":
        return follow_move(sched, event)
    with sched.locked(event.space_key, wait=0) as got:
        if not got:
            return None
        record = sched.records.get(event.space_key)
        if (record is None or record.desired is not Desired.RUNNING
                or record.container != event.container_id):
            return False  # replaced, draining, asleep, paused, failed or gone
        instance = sched.backend.refresh(event.container_id)
        if instance is not None and (instance.running or instance.frozen):
            return follow_restart(sched, record, instance)
        if instance is not None and time.time() - event.at < RESTART_GRACE_S:
            # `docker restart` (or a restart policy) starts it again at once: judged again
            # later (every RETRY_S), with the Space's lock free meanwhile.
            return None
        detail = mark_crashed(sched, record.spec, instance)
        log.warning("%s: %s", event.space_key, detail.splitlines()[0])
        return True


def follow_restart(sched: Scheduler, record: SpaceRecord, instance: Instance) -> bool | None:
    """The current container runs after a die: an OOM of a child process the app survived,
    or the engine restarted it, maybe at another address. The route follows the address
    once the app answers there; None (judge again later) until then."""
    route = sched.routes.get(record.spec.key)
    if instance.frozen or route is None or route.upstream == instance.upstream:
        return False
    if not sched.backend.probe(instance):
        return None
    sched.routes.put(route_for(record.spec, instance.upstream, Stage.RUNNING))
    return False


def follow_move(sched: Scheduler, event: EngineEvent) -> bool | None:
    """A cluster backend moved the Space's instance to another node (its node was lost):
    the stage says so while it starts there, and the route follows it once it answers.
    None (judge again later) until then."""
    with sched.locked(event.space_key, wait=0) as got:
        if not got:
            return None
        record = sched.records.get(event.space_key)
        if (record is None or record.desired is not Desired.RUNNING
                or record.container != event.container_id):
            return False
        instance = sched.backend.refresh(event.container_id)
        if instance is None:
            return False  # removed meanwhile: reconcile decides
        if not (instance.running and sched.backend.probe(instance)):
            route = sched.routes.get(event.space_key)
            if route is None or route.upstream is not None:
                sched.routes.put(route_for(record.spec, None, Stage.APP_STARTING))
                sched.reporter(event.space_key, None)(
                    Stage.APP_STARTING, "its node was lost; starting on another node")
            return None
        sched.routes.put(route_for(record.spec, instance.upstream, Stage.RUNNING))
        sched.records.save(SpaceRecord(record.spec, Desired.RUNNING, instance.id,
                                       record.started_at))
        sched.reporter(event.space_key, None)(Stage.RUNNING, None)
        return True


def watch(sched: Scheduler, stop: threading.Event) -> None:
    """Follow the engine's events until ``stop``, judging them in a second thread so a
    busy Space (retried every RETRY_S) never delays the stream."""
    inbox: queue.Queue[EngineEvent] = queue.Queue()
    judge_thread = threading.Thread(target=_judge_loop, args=(sched, inbox, stop),
                                    daemon=True, name="podium-events-judge")
    judge_thread.start()
    try:
        for event in sched.backend.events(stop):
            inbox.put(event)
    except Exception:  # the watcher must never take the scheduler down
        log.exception("following the engine's events failed; reconcile still runs")
    judge_thread.join(timeout=5)


def _judge_loop(
    sched: Scheduler, inbox: queue.Queue[EngineEvent], stop: threading.Event,
) -> None:
    later: dict[tuple[str, str], EngineEvent] = {}
    next_retry = time.monotonic() + RETRY_S
    while not stop.is_set():
        try:
            _judge_one(sched, inbox.get(timeout=RETRY_S), later)
        except queue.Empty:
            pass
        if time.monotonic() >= next_retry:
            next_retry = time.monotonic() + RETRY_S
            waiting = list(later.values())
            later.clear()
            for event in waiting:
                _judge_one(sched, event, later)


def _judge_one(
    sched: Scheduler, event: EngineEvent, later: dict[tuple[str, str], EngineEvent],
) -> None:
    try:
        if judge(sched, event) is None:
            later[(event.space_key, event.container_id)] = event
        else:
            log.debug("event %s of %s judged %.2fs after it happened", event.action,
                      event.space_key, time.time() - event.at)
    except Exception:
        log.exception("judging the engine event %s of %s failed", event.action,
                      event.space_key)
