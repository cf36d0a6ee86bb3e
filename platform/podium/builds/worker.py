"""The build worker: an rq Worker on ``settings.queue_name``, with the reaper (and the
catch-up and image garbage collection passes) on a thread.

Jobs run in rq's forked work horse, which rebuilds Settings from the environment, so the
worker first exports its own Settings as PODIUM_* variables: whatever the caller built
(CLI flags included) is what every job sees.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time

import redis
from rq import Worker

from podium.config import Settings
from podium.errors import ServiceUnavailable

from .catchup import CATCH_UP_EVERY, catch_up
from .queue import build_queue
from .reaper import REAP_EVERY, reap_stale_builds
from .retention import collect

log = logging.getLogger(__name__)

# How long the worker's teardown waits for rq's command-channel thread (see BuildWorker).
PUBSUB_STOP_WAIT = 1.0


class BuildWorker(Worker):
    """rq's Worker whose teardown cannot hang on its command-channel (pubsub) thread.

    rq's ``unsubscribe`` sends UNSUBSCRIBE, then calls the thread's ``stop()``, which in
    redis-py 8 joins the thread with no bound. The thread reads the UNSUBSCRIBE reply, loops
    back into ``get_message(timeout=60)`` before ``stop()`` trips its flag, and waits there up
    to 60 s for a subscription that will never come: a SIGTERMed worker lived on for a
    minute (the supervisor SIGKILLs it after 15 s; an orphan of a killed `podium up` just
    lingered). The thread is a daemon holding nothing but that connection, so the wait is
    bounded, as rq meant it (its own join afterwards has a 1 s timeout)."""

    def unsubscribe(self) -> None:
        thread = self.pubsub_thread
        if not thread:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name,
                      self.pubsub_channel_name)
        self.pubsub.unsubscribe()
        if "timeout" in inspect.signature(thread.stop).parameters:
            thread.stop(timeout=PUBSUB_STOP_WAIT)  # redis-py 8: trips the flag, then joins
        else:
            thread.stop()  # older redis-py: only trips the flag
            thread.join(timeout=PUBSUB_STOP_WAIT)
        self.pubsub.close()


def _reap_forever(settings: Settings, stop: threading.Event) -> None:
    """The reaper every REAP_EVERY s, on a thread: rq's own maintenance runs only between
    jobs and after a dequeue that blocks up to worker_ttl - 15 s, so a dead worker's slot
    waited minutes. Its own Redis client and database: nothing shared with the forked
    work horse."""
    from podium.store.db import Database

    conn = redis.Redis.from_url(settings.redis_url)
    db = Database(settings)
    last_catch_up = last_gc = time.monotonic()
    while not stop.wait(REAP_EVERY):
        try:
            reap_stale_builds(settings, conn, db)
            if time.monotonic() - last_catch_up >= CATCH_UP_EVERY:
                last_catch_up = time.monotonic()
                catch_up(settings, conn, db)
            if settings.gc_interval and time.monotonic() - last_gc >= settings.gc_interval:
                last_gc = time.monotonic()
                _collect(settings, db)
        except Exception:  # Redis or the database blipped: the next pass retries
            log.exception("reaping stale builds failed")


def _collect(settings: Settings, db: object) -> None:
    from podium.builder.engine import docker_client

    collect(settings, db, docker_client())


def _share_base_image(settings: Settings) -> None:
    """On a cluster: this engine's base image into the registry, for workers on other hosts
    (builder/base_image.py). A registry that is down stops no worker: builds here do not
    need it until they push, and say so then."""
    from podium.builder.base_image import share_base_image
    from podium.builder.engine import docker_client

    if not settings.registry:
        return
    try:
        pushed = share_base_image(settings, docker_client())
    except Exception:  # noqa: BLE001 - logged for the operator; the worker serves anyway
        log.exception("sharing the base image through the registry failed")
        return
    if pushed:
        log.info("base image shared as %s", pushed)


def run_worker(settings: Settings, burst: bool = False, *, name: str | None = None) -> bool:
    """Work the build queue until stopped (or, with ``burst``, until it is empty).
    Returns whether any job was run."""
    from podium.store.db import Database

    if not settings.redis_url:
        raise ServiceUnavailable(
            "the build worker needs a Redis URL",
            hint="set PODIUM_REDIS_URL, or run the worker through `podium up`",
        )
    os.environ.update(settings.to_env())
    conn = redis.Redis.from_url(settings.redis_url)
    try:
        conn.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"cannot reach Redis at {settings.redis_url}: {exc}") from exc
    db = Database(settings)
    reap_stale_builds(settings, conn, db)
    catch_up(settings, conn, db)
    # Before the reaper thread and the first fork: rq forks a work horse per job, and a
    # fork while another thread holds a lock (an import's) leaves the horse stuck on it.
    _share_base_image(settings)
    worker = BuildWorker([build_queue(settings, conn)], connection=conn, name=name)
    stop = threading.Event()
    reaper = threading.Thread(
        target=_reap_forever, args=(settings, stop), name="reaper", daemon=True
    )
    reaper.start()
    try:
        return worker.work(burst=burst, logging_level="INFO")
    finally:
        stop.set()


def main(argv: list[str] | None = None) -> int:
    """``python -m podium.builds.worker [--burst]``: a worker configured by PODIUM_* only
    (for compose services and tests; ``podium worker`` is the usual way)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m podium.builds.worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--name", default=None, help="rq worker name")
    args = parser.parse_args(argv)
    run_worker(Settings(), burst=args.burst, name=args.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
