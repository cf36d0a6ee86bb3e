"""The scheduler's long-running loop: wake Spaces the proxy asks for (several at once, each
only once however many requests arrive), run the deploys finished builds ask for, sleep idle
ones, reconcile now and then."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

import redis

from podium.errors import PodiumError

if TYPE_CHECKING:
    from podium.scheduler.service import Scheduler

log = logging.getLogger(__name__)


class Deploys(Protocol):
    """Deploy requests waiting for this process (``podium.controller.deployer.Deployer``:
    the scheduler itself never reads the store, so the controller decides what runs)."""

    def pending(self) -> list[str]: ...

    def run(self, space_key: str) -> object: ...


class _NoDeploys:
    def pending(self) -> list[str]:
        return []

    def run(self, space_key: str) -> object:
        return None


class _OncePerKey:
    """Runs ``work(key)`` in a pool, never twice at once for one key."""

    def __init__(self, pool: ThreadPoolExecutor, work: Callable[[str], object], what: str):
        self.pool = pool
        self.work = work
        self.what = what
        self.busy: set[str] = set()
        self.guard = threading.Lock()

    def submit(self, key: str) -> None:
        with self.guard:
            if key in self.busy:
                return
            self.busy.add(key)
        self.pool.submit(self._run, key)

    def _run(self, key: str) -> None:
        try:
            self.work(key)
        except PodiumError as err:
            log.warning("%s %s failed: %s", self.what, key, err.message)
        except Exception:
            log.exception("%s %s failed", self.what, key)
        finally:
            with self.guard:
                self.busy.discard(key)


def run_forever(
    scheduler: Scheduler, stop: threading.Event, *, idle_every: float = 30.0,
    reconcile_every: float = 300.0, wake_workers: int = 4,
    deploys: Deploys | None = None, deploy_workers: int = 2,
) -> None:
    deploys = deploys if deploys is not None else _NoDeploys()
    scheduler.backend.ensure_network()
    scheduler.reconcile()
    next_idle = time.monotonic() + idle_every
    next_reconcile = time.monotonic() + reconcile_every

    # Two pools: a deploy may wait minutes for a slow app, and must never delay a wake.
    with (
        ThreadPoolExecutor(wake_workers, thread_name_prefix="podium-wake") as wake_pool,
        ThreadPoolExecutor(deploy_workers, thread_name_prefix="podium-deploy") as deploy_pool,
    ):
        waking = _OncePerKey(wake_pool, scheduler.wake, "waking")
        deploying = _OncePerKey(deploy_pool, deploys.run, "deploying")
        while not stop.is_set():
            try:
                key = scheduler.routes.wait_wake_request(timeout=1.0)
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
                    scheduler.reconcile()
            except (redis.RedisError, PodiumError):
                log.exception("scheduler loop failed; retrying in a second")
                stop.wait(1.0)
