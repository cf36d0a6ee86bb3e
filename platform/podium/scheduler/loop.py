"""The scheduler's long-running loop: wake Spaces the proxy asks for (several at once, each
only once however many requests arrive), sleep idle ones, reconcile now and then."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import redis

from podium.errors import PodiumError

if TYPE_CHECKING:
    from podium.scheduler.service import Scheduler

log = logging.getLogger(__name__)


def run_forever(
    scheduler: Scheduler, stop: threading.Event, *, idle_every: float = 30.0,
    reconcile_every: float = 300.0, wake_workers: int = 4,
) -> None:
    scheduler.backend.ensure_network()
    scheduler.reconcile()
    waking: set[str] = set()
    guard = threading.Lock()
    next_idle = time.monotonic() + idle_every
    next_reconcile = time.monotonic() + reconcile_every

    def wake(key: str) -> None:
        try:
            scheduler.wake(key)
        except PodiumError as err:
            log.warning("waking %s failed: %s", key, err.message)
        except Exception:
            log.exception("waking %s failed", key)
        finally:
            with guard:
                waking.discard(key)

    with ThreadPoolExecutor(wake_workers, thread_name_prefix="podium-wake") as pool:
        while not stop.is_set():
            try:
                key = scheduler.routes.wait_wake_request(timeout=1.0)
                if key is not None:
                    with guard:
                        fresh = key not in waking
                        waking.add(key)
                    if fresh:
                        pool.submit(wake, key)
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
