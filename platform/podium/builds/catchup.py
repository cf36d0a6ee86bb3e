"""The catch-up pass: queue a build for every Space whose pushed head commit has none.

A push is stored before its build is queued (post-receive runs after the refs moved), so a
push made while Redis was down leaves a head commit without a build (issue item 11). The
worker runs this at start and every ``CATCH_UP_EVERY`` s; enqueue_build joins a build
already queued for the commit, so running it from several processes is harmless.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from sqlalchemy import exists, select

from podium.config import Settings
from podium.errors import PodiumError

from .queue import enqueue_build

log = logging.getLogger(__name__)

CATCH_UP_EVERY = 30


def unbuilt_heads(db: Any) -> list[tuple[Any, str]]:
    """(SpaceId, head commit) of every Space whose head commit has no build record."""
    from podium.store.models import Build, Space

    has_build = exists().where(Build.space_id == Space.id, Build.commit == Space.head_commit)
    with db.session() as session:
        rows = session.scalars(select(Space).where(Space.head_commit.is_not(None), ~has_build))
        return [(space.space_id, str(space.head_commit)) for space in rows]


def catch_up(settings: Settings, conn: redis.Redis, db: Any) -> list[str]:
    """Queue the missing builds; returns the build ids queued."""
    queued: list[str] = []
    for space_id, commit in unbuilt_heads(db):
        try:
            ref = enqueue_build(settings, conn, db, space_id, commit)
        except PodiumError as exc:  # e.g. deleted meanwhile: the others still get theirs
            log.warning("catch-up: %s at %s not queued: %s", space_id, commit[:12], exc)
            continue
        log.warning("catch-up: queued build %s of %s at %s", ref.build_id, space_id, commit[:12])
        queued.append(ref.build_id)
    return queued
