"""Item 11: a head commit stored while Redis was down (no build record) gets a build from
the catch-up pass the worker runs at start and every 30 s."""

from __future__ import annotations

import redis

from podium.builds.catchup import catch_up
from podium.config import Settings
from podium.spaces.stage import BuildStatus
from podium.store import spaces as store_spaces
from podium.store.db import Database
from tests.integration import test_builds_queue as shared
from tests.integration.test_builds_queue import build_record, new_space

build_settings = shared.build_settings
db = shared.db


def test_item11_a_head_without_a_build_gets_one(
    build_settings: Settings, redis_conn: redis.Redis, db: Database
) -> None:
    space_id, commit = new_space(build_settings, db)
    with db.session() as session:  # what on_push records before Redis refused the enqueue
        store_spaces.update_space(session, store_spaces.get_space(session, space_id),
                                  head_commit=commit)
    queued = catch_up(build_settings, redis_conn, db)
    assert len(queued) == 1
    record = build_record(db, queued[0])
    assert record.commit == commit and record.status == BuildStatus.QUEUED
    assert catch_up(build_settings, redis_conn, db) == []  # it has a build now
