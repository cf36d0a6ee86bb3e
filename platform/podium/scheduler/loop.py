"""The scheduler's long-running loop: reconcile once at start, wake Spaces the proxy asks for
(several at once, each only once however many requests arrive), run the deploys finished
builds ask for, sleep idle ones, reconcile now and then, and follow the engine's events for
crashes. The one way to run a scheduler process (``podium scheduler``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import redis

from podium.errors import PodiumError
from podium.scheduler.events import watch
from podium.scheduler.reconcile import ReconcileReport, reconcile
from podium.scheduler.usage import sample_forever

if TYPE_CHECKING:
    from podium.scheduler.service import Scheduler

log = logging.getLogger(__name__)


class Deploys(Protocol):
    """Deploy requests waiting for this process (``podium.controller.deployer.Deployer``:
    the scheduler itself never reads the store, so the controller decides what runs)."""

    # A Redis list pushed to when a request can run: the loop wakes on it at once.
    nudge_key: str

    def pending(self) -> list[str]: ...

    def run(self, space_key: str) -> object: ...


class _OncePerKey:
    """Runs ``work(key)`` in a thread of its own, never twice at once for one key.

    Not a bounded pool: a deploy or a wake may wait up to its startup timeout for an app
    that never answers, and a bounded pool would let a few such Spaces hold every worker
    while others wait. What the engine must not do too much of at once, creating and
    starting containers, is bounded by the scheduler's start slots instead; the number of
    threads is the number of Spaces being started."""

    def __init__(self, work: Callable[[str], object], what: str):
        self.work = work
        self.what = what
        self.busy: dict[str, threading.Thread] = {}
        self.guard = threading.Lock()

    def submit(self, key: str) -> None:
        with self.guard:
            if key in self.busy:
                return
            thread = threading.Thread(target=self._run, args=(key,), daemon=True,
                                      name=f"podium-{self.what}")
            self.busy[key] = thread
        thread.start()

    def join(self, timeout: float) -> int:
        """Wait up to ``timeout`` for the work running; returns how many still run."""
        deadline = time.monotonic() + timeout
        with self.guard:
            threads = list(self.busy.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(t.is_alive() for t in threads)

    def _run(self, key: str) -> None:
        try:
            self.work(key)
        except PodiumError as err:
            log.warning("%s %s failed: %s", self.what, key, err.message)
        except Exception:
            log.exception("%s %s failed", self.what, key)
        finally:
            with self.guard:
                self.busy.pop(key, None)


def run_forever(
    scheduler: Scheduler, stop: threading.Event, *, deploys: Deploys,
    idle_every: float = 30.0, reconcile_every: float = 300.0, shutdown_grace: float = 10.0,
    reconciled: Callable[[ReconcileReport], object] | None = None,
) -> None:
    """Run until ``stop`` is set. ``deploys`` is required: a loop without it would wake and
    sleep Spaces but never deploy a finished build. ``reconciled`` is told the first
    reconcile's report (the CLI prints it)."""
    scheduler.backend.ensure_network()
    report = reconcile(scheduler)
    if reconciled is not None:
        reconciled(report)
    next_idle = time.monotonic() + idle_every
    next_reconcile = time.monotonic() + reconcile_every
    # Crashes and OOM kills are seen as the engine reports them, not at the next reconcile.
    watcher = threading.Thread(target=watch, args=(scheduler, stop), daemon=True,
                               name="podium-events")
    watcher.start()
    every = scheduler.settings.metrics_usage_interval
    if every > 0:  # container CPU and memory for the metrics, on an interval of its own
        threading.Thread(target=sample_forever, args=(scheduler, stop, every), daemon=True,
                         name="podium-usage").start()
    waking = _OncePerKey(scheduler.wake, "waking")
    deploying = _OncePerKey(deploys.run, "deploying")
    while not stop.is_set():
        try:
            # One blocking read for both: a wake request, or a build's deploy nudge (the
            # build handed its image over): neither waits for the next pass.
            key = scheduler.routes.wait_wake_request(timeout=1.0, also=(deploys.nudge_key,))
            if key is not None:
                waking.submit(key)
            # Requests live in Redis until run: those left while this process was down
            # are picked up on the first pass.
            for space_key in deploys.pending():
                deploying.submit(space_key)
            now = time.monotonic()
            if now >= next_idle:
                next_idle = now + idle_every
                scheduler.idle_check()
            if now >= next_reconcile:
                next_reconcile = now + reconcile_every
                reconcile(scheduler)
        except (redis.RedisError, PodiumError):
            log.exception("scheduler loop failed; retrying in a second")
            stop.wait(1.0)
    # A start still waiting for its app is left: its request (or the wake request) stays
    # in Redis and the next scheduler runs it again.
    left = deploying.join(shutdown_grace) + waking.join(shutdown_grace)
    if left:
        log.info("stopping with %d starts still waiting for their apps", left)
    watcher.join(timeout=5)
