"""Idle Spaces, in two depths (run by ``Scheduler.idle_check`` every loop pass):

- light sleep: a Space without traffic for ``freeze_after`` (open websockets and event
  streams count as traffic) is frozen: 0 CPU, memory kept, a request thaws it in ~0.1 s;
- deep sleep: its container is removed (memory freed, the next wake starts the app again,
  seconds for Gradio) when it stayed idle for its ``sleep_time``, or earlier when the
  Spaces together hold more memory than ``spaces_memory_budget``: least recently used
  frozen Spaces first (budget.py), so most wakes stay thaws.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from podium.config import Settings
from podium.routes import RouteTable
from podium.scheduler.base import Backend
from podium.scheduler.budget import Resident, to_evict
from podium.scheduler.records import Desired, SpaceRecord, SpaceRecords
from podium.scheduler.storage import parse_size

log = logging.getLogger(__name__)


class Scheduler(Protocol):
    """What idle handling needs of podium.scheduler.service.Scheduler (which calls it)."""

    settings: Settings
    backend: Backend
    routes: RouteTable
    records: SpaceRecords

    def sleep(self, space_key: str, *, idle_before: float | None = None) -> bool: ...

    def locked(
        self, space_key: str, wait: float | None = None,
    ) -> AbstractContextManager[bool]: ...


def freeze_after(scheduler: Scheduler, record: SpaceRecord) -> float:
    """Idle seconds before the Space is frozen (never later than its sleep time)."""
    sleep_time = record.spec.sleep_time
    light = scheduler.settings.freeze_after
    return min(light, sleep_time) if light > 0 else sleep_time


def last_active(scheduler: Scheduler, space_key: str, record: SpaceRecord) -> float:
    """The Space's last request through a proxy, or its (re)start if later."""
    return max(scheduler.routes.last_activity(space_key) or 0.0, record.started_at)


def is_idle(scheduler: Scheduler, space_key: str, record: SpaceRecord, now: float) -> bool:
    """Idle long enough to freeze: no open stream, no request for ``freeze_after``."""
    if record.spec.sleep_time <= 0 or scheduler.routes.open_streams(space_key) > 0:
        return False
    return now - last_active(scheduler, space_key, record) >= freeze_after(scheduler, record)


def slept_enough(scheduler: Scheduler, space_key: str, record: SpaceRecord, now: float) -> bool:
    """Idle for its whole sleep time: the container goes (deep sleep)."""
    sleep_time = record.spec.sleep_time
    return sleep_time > 0 and now - last_active(scheduler, space_key, record) >= sleep_time


def idle_check(scheduler: Scheduler, now: float | None = None) -> list[str]:
    """Freeze the idle running Spaces, remove the containers of those asleep for their
    sleep time, then keep the Spaces within the memory budget. Returns the Spaces frozen
    (or put to sleep) by this pass."""
    now = time.time() if now is None else now
    slept = []
    for key in scheduler.records.keys():
        record = scheduler.records.get(key)
        if record is None:
            continue
        if record.desired is Desired.SLEEPING and record.container:
            if slept_enough(scheduler, key, record, now):
                deepen(scheduler, key, lambda r, k=key: slept_enough(scheduler, k, r, now))
        elif record.desired is Desired.RUNNING and is_idle(scheduler, key, record, now):
            if scheduler.sleep(key, idle_before=now):
                slept.append(key)
    enforce_budget(scheduler)
    return slept


def deepen(
    scheduler: Scheduler, space_key: str,
    still: Callable[[SpaceRecord], bool] | None = None,
) -> bool:
    """Remove the container of a sleeping Space, freeing its memory (``still``, a check
    on the record, is repeated under the Space's lock). Its next wake starts a fresh
    container: bench/wake.py measured restarting the stopped one no faster (image layers sit
    in the page cache either way), and a fresh one picks up current secrets and a clean
    disk, as on Spaces."""
    with scheduler.locked(space_key, wait=0) as got:
        record = scheduler.records.get(space_key)
        if not got or record is None or record.desired is not Desired.SLEEPING:
            return False
        if still is not None and not still(record):
            return False
        found = scheduler.backend.list_instances(space_key)
        for instance in found:
            scheduler.backend.stop(instance)
            scheduler.backend.remove(instance)
        scheduler.records.set_desired(space_key, Desired.SLEEPING, "", at=record.slept_at)
        return bool(found)


def memory_budget(scheduler: Scheduler) -> int:
    return parse_size(scheduler.settings.spaces_memory_budget, "spaces_memory_budget")


def residents(scheduler: Scheduler) -> list[Resident]:
    """Every Space container of this install holding memory, with its Space's last use."""
    out = []
    records: dict[str, SpaceRecord | None] = {}
    for instance in scheduler.backend.list_instances():
        if not (instance.running or instance.frozen):
            continue
        usage = scheduler.backend.usage(instance)
        if usage is None:
            continue
        key = instance.space_key
        if key not in records:
            records[key] = scheduler.records.get(key)
        record = records[key]
        # Only a Space asleep (frozen, its route off the container) may be evicted: a frozen
        # container of a running Space is a deploy's or a wake's business.
        asleep = record is not None and record.desired is Desired.SLEEPING and instance.frozen
        active = last_active(scheduler, key, record) if record is not None else 0.0
        out.append(Resident(key, usage.memory, asleep, active))
    return out


def enforce_budget(scheduler: Scheduler) -> list[str]:
    """Remove frozen Spaces, least recently used first, until the Spaces fit in
    ``spaces_memory_budget``. Returns the Spaces removed."""
    budget = memory_budget(scheduler)
    if budget <= 0:
        return []
    removed = []
    for victim in to_evict(residents(scheduler), budget):
        if deepen(scheduler, victim.space_key):
            log.info("memory budget: removed frozen %s (%d MB, idle since %.0f)",
                     victim.space_key, victim.memory >> 20, victim.last_active)
            removed.append(victim.space_key)
    return removed
