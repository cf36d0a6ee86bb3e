"""Starting a Space's container without letting the wait starve others, and giving a
pending start up at once.

A start has two parts: creating and starting the container (seconds of engine work) and
waiting for the app to answer (up to its startup timeout, an hour at most). Only the first
holds one of the process's start slots (``Settings.deploy_slots``); the wait holds nothing
shared, so Spaces that never listen cannot delay another Space's deploy. Each start leaves
a note in Redis (``SpaceRecords.begin_start``): delete, pause or a new push cancels it
(``cancel_start``), which removes its container at once; the waiting starter sees the cancel
within a poll and lets go of the Space's lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from podium.errors import StartCancelled
from podium.scheduler.base import Backend, Instance
from podium.scheduler.records import Desired, SpaceRecord, SpaceRecords
from podium.scheduler.spec import RunSpec, route_for
from podium.spaces.stage import Stage

if TYPE_CHECKING:
    from podium.routes import RouteTable

log = logging.getLogger(__name__)

OnStage = Callable[[Stage, str | None], None]
# A deploy's steps for its caller: ``on_switch`` right before the route sends traffic to
# the new version (the store records it then), ``on_ready`` once every proxy does.
OnStep = Callable[[], None]


class Starter(Protocol):
    """What a start uses of the ``Scheduler`` (``scheduler/service.py``), which calls these
    functions: named here so this module does not import the one that imports it."""

    backend: Backend
    records: SpaceRecords
    routes: RouteTable
    slots: threading.BoundedSemaphore
    drain_s: float

# A cancel outlives by far every start begun before it: each checks at least once a second.
CANCEL_TTL_S = 3600.0

_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_GUARD = threading.Lock()


def start_slots(size: int) -> threading.BoundedSemaphore:
    """The container-start slots of this process: every Scheduler in it shares them, as
    they share the engine."""
    with _SLOTS_GUARD:
        return _SLOTS.setdefault(size, threading.BoundedSemaphore(max(1, size)))


def start_watched(
    sched: Starter, spec: RunSpec, since: float, start: Callable[[RunSpec], Instance],
) -> Instance:
    """``start`` a container holding a start slot only for that, then wait (slot free)
    until it answers. The container is removed on any failure; a failure caused by a cancel
    (the canceller removed the container: it "vanished") is reported as StartCancelled."""

    def cancelled() -> bool:
        return sched.records.cancelled(spec.key, since) is not None

    new: Instance | None = None
    try:
        with sched.slots:
            if cancelled():  # given up while waiting for a slot
                raise StartCancelled(f"the start of {spec.space_id} was cancelled")
            new = start(spec)
        sched.records.started(spec.key, new.id)
        sched.backend.wait_healthy(new, spec.startup_timeout, cancelled)
        return new
    except Exception as err:
        if new is not None:
            sched.backend.remove(new)
        if not isinstance(err, StartCancelled) and cancelled():
            raise StartCancelled(f"the start of {spec.space_id} was cancelled") from err
        raise
    except BaseException:
        if new is not None:
            sched.backend.remove(new)
        raise


def cancel_start(sched: Starter, space_key: str, show: Stage) -> bool:
    container = sched.records.cancel_start(space_key, show.value, ttl=CANCEL_TTL_S)
    if container:
        found = sched.backend.refresh(container)
        if found is not None:
            sched.backend.remove(found)
    return container is not None


def undo_cancelled(
    sched: Starter, spec: RunSpec, old: Instance | None, old_record: SpaceRecord | None,
    since: float,
) -> None:
    """Put back the route a cancelled start changed. No stage is reported: the canceller
    (delete, pause, a push) records its own."""
    if old is not None:  # what served keeps serving until its canceller decides
        serving = old_record.spec if old_record else spec
        sched.routes.put(route_for(serving, old.upstream, Stage.RUNNING))
        return
    show = Stage(sched.records.cancelled(spec.key, since) or Stage.BUILDING)
    sched.routes.put(route_for(old_record.spec if old_record else spec, None, show))
    if old_record is None and show is Stage.PAUSED:
        # A first start paused: remember what to run on resume.
        sched.records.save(SpaceRecord(spec, Desired.PAUSED))


def switch_to(
    scheduler: Starter, spec: RunSpec, new: Instance, report: OnStage,
    on_switch: OnStep | None, on_ready: OnStep | None,
) -> None:
    """Send the Space's traffic to its healthy new container. The caller records the new
    version (the runtime's sha) first, so nobody sees it answer while the runtime names the
    old one; ready is told once every proxy routes to it, not when Redis does."""
    _step(spec.key, "switch", on_switch)
    scheduler.routes.put(route_for(spec, new.upstream, Stage.RUNNING))
    scheduler.records.save(SpaceRecord(spec, Desired.RUNNING, new.id, time.time()))
    report(Stage.RUNNING, None)
    if on_ready is not None:
        if not scheduler.routes.wait_applied(timeout=scheduler.drain_s + 5):
            log.warning("a proxy did not apply the route of %s in time", spec.key)
        _step(spec.key, "ready", on_ready)


def _step(space_key: str, what: str, step: OnStep | None) -> None:
    try:
        if step is not None:
            step()
    except Exception:  # as a stage callback: the store down must not strand a deploy
        log.exception("%s callback failed for %s", what, space_key)
