"""Redis locks held for as long as their holder lives, not for a guessed maximum.

A lock taken for a deploy used to last the app's whole startup timeout (30 min by default),
so a scheduler killed mid-deploy left its Space locked that long after a restart. Here the
lock lives ``lease`` seconds and a thread renews it while the holder runs: a dead holder
frees it within one lease."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)

LEASE_S = 30.0


@contextmanager
def renewed(lock: Lock, lease: float = LEASE_S) -> Iterator[bool]:
    """Acquire ``lock`` (made with ``thread_local=False`` and ``timeout=lease``) as its own
    settings say, keep it while the block runs, release it after. Yields whether it was got."""
    got = bool(lock.acquire())
    stop = threading.Event()
    renewer: threading.Thread | None = None
    if got:
        renewer = threading.Thread(target=_renew, args=(lock, lease, stop), daemon=True,
                                   name="podium-lock-renew")
        renewer.start()
    try:
        yield got
    finally:
        stop.set()
        if renewer is not None:
            renewer.join(timeout=5)
        if got:
            try:
                lock.release()
            except LockError:
                log.warning("lock %s was lost before release", lock.name)


def _renew(lock: Lock, lease: float, stop: threading.Event) -> None:
    while not stop.wait(lease / 3):
        try:
            lock.extend(lease, replace_ttl=True)
        except (LockError, RedisError) as exc:
            log.warning("could not renew lock %s: %s", lock.name, exc)
