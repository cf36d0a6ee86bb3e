"""Warm standby, the scheduler side (issue 14 goal 1; the engine side is
``scheduler/standby.py``): when a deploy may run in the Space's standby instead of a new
container, making the next standby after a deploy, and dropping ones nobody will use.

- After a deploy goes RUNNING (``prepare``, in a thread: it takes seconds), one standby is
  started from the deployed spec, noted in Redis for ``standby_window`` seconds and frozen
  once its SDK is imported. Only a Space that was just deployed gets one, and it is removed
  when the window ends without a push (``sweep``), so a Space not pushed again costs nothing.
- A deploy (``choose_start``) takes the note. It starts in the standby when the standby's
  fingerprint equals the one the new spec and image give: only the code layer changed.
  Otherwise (deps, variables, secrets, limits, image config changed; no standby; it died;
  an SDK without one; a backend without them) it drops the standby and starts a new
  container as always. Either way one line names the path taken (``on_path``).
- Sleep, pause, delete and every deploy remove the Space's containers, the standby with
  them (it carries the Space's labels).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from podium.config import Settings
from podium.errors import PodiumError
from podium.scheduler.base import Backend, Instance
from podium.scheduler.devfiles import reload_env
from podium.scheduler.records import Desired, SpaceRecord, SpaceRecords
from podium.scheduler.spec import RunSpec
from podium.scheduler.standby import SDKS


class Scheduler(Protocol):
    """What the standby logic uses of ``scheduler.service.Scheduler`` (which calls it)."""

    settings: Settings
    backend: Backend
    records: SpaceRecords

    def locked(self, space_key: str,
               wait: float | None = None) -> AbstractContextManager[bool]: ...

log = logging.getLogger(__name__)

OnPath = Callable[[str], None]
Start = Callable[[RunSpec], Instance]

PATH_STANDBY = "Deploy path: warm standby (only the code changed; the SDK is already imported)"
PATH_NEW = "Deploy path: new container"


def enabled(sched: Scheduler) -> bool:
    return sched.backend.can_standby and sched.settings.standby_window > 0


def decide(standby: Instance | None, fit: str | None) -> str | None:
    """Why the standby cannot serve the deploy (None: it can). ``fit`` is the new spec's
    fingerprint (None: no standby can serve that SDK or command)."""
    if fit is None:
        return "no warm standby for this SDK or command"
    if standby is None:
        return "no warm standby waiting"
    if not (standby.running or standby.frozen) or not standby.standby:
        return "the warm standby is gone"
    if standby.standby != fit:
        return "dependencies, image settings, variables, secrets or limits changed"
    return None


def choose_start(sched: Scheduler, spec: RunSpec, on_path: OnPath | None) -> Start:
    """How the deploy of ``spec`` starts its container: in the waiting standby, or new."""
    say = on_path or (lambda _line: None)
    if not enabled(sched):
        say(PATH_NEW)
        return sched.backend.start
    waiting = sched.records.take_standby(spec.key)
    standby = sched.backend.refresh(waiting) if waiting else None
    try:
        why = decide(standby, sched.backend.standby_fit(spec))
    except PodiumError as err:  # the image is gone: the normal start reports it
        why = err.message
    except Exception:  # an engine error: never worse than the normal path
        log.exception("standby of %s not usable", spec.key)
        why = "the warm standby could not be checked"
    if why is not None or standby is None:
        if standby is not None:
            sched.backend.remove(standby)
        say(f"{PATH_NEW} ({why})")
        return sched.backend.start
    say(PATH_STANDBY)
    chosen = standby

    def start(spec: RunSpec) -> Instance:
        try:
            return sched.backend.promote_standby(chosen, spec)
        except Exception as err:  # fall back to the normal path, quietly but logged
            log.warning("standby of %s failed (%s); starting a new container",
                        spec.key, getattr(err, "message", err))
            sched.backend.remove(chosen)
            return sched.backend.start(spec)

    return start


def wanted(sched: Scheduler, spec: RunSpec, before: SpaceRecord | None,
           now: float) -> bool:
    """Whether the deploy of ``spec`` is followed by a standby: the Space is being worked
    on (it was started before, within the window: this is at least its second push of the
    session), its SDK has one, and it is not in dev mode (its pushes reload in place)."""
    if not enabled(sched) or spec.sdk not in SDKS:
        return False
    if before is None or now - before.started_at > sched.settings.standby_window:
        return False
    reloader = set(reload_env(spec.sdk, "app.py")) - {"SYSTEM"}
    return not reloader & set(spec.env)


def after_deploy(sched: Scheduler, spec: RunSpec, before: SpaceRecord | None) -> None:
    """Make the next standby in the background (the deploy has returned by then).
    ``before`` is the Space's record before this deploy."""
    if wanted(sched, spec, before, time.time()):
        threading.Thread(target=_prepare_logged, args=(sched, spec), daemon=True,
                         name=f"standby {spec.key}").start()


def _prepare_logged(sched: Scheduler, spec: RunSpec) -> None:
    try:
        prepare(sched, spec)
    except Exception:  # a thread of its own: nobody else would see it; the push is done
        log.exception("no standby for %s", spec.key)


def prepare(sched: Scheduler, spec: RunSpec) -> Instance | None:
    """Start a standby for the Space's deployed ``spec`` and freeze it once warm. Gives up
    (quietly) when another operation holds the Space or ``spec`` is no longer deployed."""
    key = spec.key
    with sched.locked(key, wait=0) as got:
        record = sched.records.get(key)
        if not got or record is None or record.desired is not Desired.RUNNING \
                or record.spec.image != spec.image:
            return None
        stale = sched.records.take_standby(key)
        if stale and (found := sched.backend.refresh(stale)) is not None:
            sched.backend.remove(found)
        try:
            standby = sched.backend.start_standby(spec)
        except PodiumError as err:
            log.warning("no standby for %s: %s", key, err.message)
            return None
        if standby is None:
            return None
        sched.records.set_standby(key, standby.id, sched.settings.standby_window)
    warm = sched.backend.wait_standby(standby, sched.settings.standby_warm_timeout)
    with sched.locked(key, wait=0) as got:
        # A deploy that holds the lock now has taken (or dropped) the standby: let it be.
        if got and sched.records.standby(key) == standby.id:
            try:
                if not warm:
                    raise PodiumError("its SDK did not import in time")
                sched.backend.freeze(standby)
            except PodiumError as err:
                log.warning("standby of %s dropped: %s", key, err.message)
                sched.records.take_standby(key)
                sched.backend.remove(standby)
                return None
    return standby


def sweep(sched: Scheduler) -> list[str]:
    """Remove standbys no note names any more (the window ended, or a newer one replaced
    them) unless a deploy made one the Space's container. Returns the Spaces swept."""
    swept = []
    for instance in sched.backend.standby_instances():
        key = instance.space_key
        with sched.locked(key, wait=0) as got:
            if not got:
                continue
            record = sched.records.get(key)
            if sched.records.standby(key) == instance.id or (
                    record is not None and record.container == instance.id):
                continue
            sched.backend.remove(instance)
            swept.append(key)
    return swept


def waiting(sched: Scheduler, space_key: str) -> str | None:
    """The id of the Space's standby waiting for code (reconciliation leaves it alone)."""
    return sched.records.standby(space_key)
