"""The reaper: fails builds whose worker died, so no Space shows BUILDING forever.

A running build holds a lease (see lease.py). The reaper looks at every build marked active:
when its lease ran out, or its process is gone from this host, the build is recorded FAILED
("worker died") with its stage set as for any failed build. It then lets rq clean its own
registries and frees the build slot the dead job held at once. Workers call it at start
and every ``REAP_EVERY`` seconds from a thread of their own (busy or idle); the
controller may call it too. It is idempotent
and safe to run from many processes at once.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq.registry import StartedJobRegistry

from podium.config import Settings
from podium.errors import InvalidName
from podium.keys import builds as keys
from podium.names import SpaceId

from . import lease
from .queue import WORKER_DIED, build_queue, free_dead_job
from .records import fail_build

log = logging.getLogger(__name__)

# With leases of lease.LEASE_SECONDS, a dead worker's slot is free within ~15 s.
REAP_EVERY = 5


def reap_stale_builds(settings: Settings, conn: redis.Redis, db: Any) -> list[str]:
    """Fail every active build whose worker is gone; returns the ids of the builds failed."""
    reaped: list[str] = []
    queue = build_queue(settings, conn)
    for raw_id, raw_space in conn.hgetall(keys.ACTIVE).items():
        build_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        if lease.is_alive(conn, build_id):
            continue
        space = raw_space.decode() if isinstance(raw_space, bytes) else str(raw_space)
        try:
            space_id = SpaceId.parse(space)
        except InvalidName:
            lease.release(conn, build_id)
            continue
        if fail_build(db, conn, space_id, build_id, WORKER_DIED):
            log.warning("build %s of %s: worker died, marked FAILED", build_id, space_id)
            reaped.append(build_id)
        lease.release(conn, build_id)
        job_id = _job_id(db, build_id)
        if job_id:
            free_dead_job(queue, job_id)
    StartedJobRegistry(queue.name, connection=conn).cleanup()
    return reaped


def _job_id(db: Any, build_id: str) -> str | None:
    from podium.store import builds as store_builds

    with db.session() as session:
        build = store_builds.find_build(session, build_id)
        return str(build.job_id) if build is not None and build.job_id else None
