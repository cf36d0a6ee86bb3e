"""Redis locks held for as long as their holder lives, not for a guessed maximum.

A lock taken for a deploy used to last the app's whole startup timeout (30 min by default),
so a scheduler killed mid-deploy left its Space locked that long after a restart. Here the
lock lives ``lease`` seconds and a thread renews it while the holder runs: a dead holder
frees it within one lease."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)

LEASE_S = 30.0


@contextmanager
def kept_alive(
    renew: Callable[[], object], every: float, name: str, join_timeout: float | None = None,
) -> Iterator[None]:
    """Call ``renew`` every ``every`` seconds from a daemon thread while the block runs: the
    one renewal mechanism for Redis locks (``renewed``) and build leases
    (podium.builds.lease). A failed renewal is logged and retried at the next tick: until
    the TTL runs out, the holder still holds."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                renew()
            except (LockError, RedisError) as exc:
                log.warning("could not renew %s: %s", name, exc)

    thread = threading.Thread(target=loop, daemon=True, name=name)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=join_timeout)


@contextmanager
def renewed(lock: Lock, lease: float = LEASE_S) -> Iterator[bool]:
    """Acquire ``lock`` (made with ``thread_local=False`` and ``timeout=lease``) as its own
    settings say, keep it while the block runs, release it after. Yields whether it was got."""
    if not lock.acquire():
        yield False
        return
    try:
        with kept_alive(lambda: lock.extend(lease, replace_ttl=True), lease / 3,
                        f"podium-lock-renew {lock.name}", join_timeout=5):
            yield True
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("lock %s was lost before release", lock.name)
