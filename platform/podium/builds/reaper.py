"""The reaper: fails builds whose worker died, so no Space shows BUILDING forever.

A running build holds a lease (see lease.py). The reaper looks at every build marked active:
when its lease ran out, or its process is gone from this host, the build is recorded FAILED
("worker died") with its stage set as for any failed build. It then lets rq clean its own
registries, which frees the build slot the dead job held. Workers call it at start and
every ``REAP_EVERY`` seconds while idle; the controller may call it too. It is idempotent
and safe to run from many processes at once.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq.registry import StartedJobRegistry

from podium.config import Settings
from podium.errors import InvalidName
from podium.names import SpaceId

from . import keys, lease
from .queue import WORKER_DIED, build_queue
from .records import fail_build

log = logging.getLogger(__name__)

REAP_EVERY = 60


def reap_stale_builds(settings: Settings, conn: redis.Redis, db: Any) -> list[str]:
    """Fail every active build whose worker is gone; returns the ids of the builds failed."""
    reaped: list[str] = []
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
    queue = build_queue(settings, conn)
    StartedJobRegistry(queue.name, connection=conn).cleanup()
    return reaped
