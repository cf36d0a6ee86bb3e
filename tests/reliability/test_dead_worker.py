"""Item 13: a worker killed mid-build frees its build slot within 30 s: its build is marked
failed ("the build worker died") and the next queued build starts on a waiting worker."""

from __future__ import annotations

import os
import signal
import time

import docker
import pytest
import redis

from podium.builds.lease import lease_holder
from podium.config import Settings
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus
from podium.store.db import Database
from tests.integration import test_builds_docker as shared_docker
from tests.integration import test_builds_queue as shared
from tests.integration.test_builds_docker import (
    _remove_build_containers,
    _two_sleeping_builds,
    _wait_for_sleep_step,
)
from tests.integration.test_builds_queue import build_record, start_worker, wait_for

build_settings = shared.build_settings
db = shared.db
own_base = shared_docker.own_base
docker_settings = shared_docker.docker_settings
made_spaces = shared_docker.made_spaces

pytestmark = pytest.mark.docker


def test_item13_a_dead_workers_slot_is_free_within_30_s(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, own_base: str, made_spaces: list[SpaceId],
) -> None:
    marker, first, second = _two_sleeping_builds(
        docker_settings, redis_conn, db, own_base, made_spaces)
    doomed = start_worker(docker_settings, burst=False)
    waiting = None
    try:
        _wait_for_sleep_step(redis_conn, first.build_id, marker)
        waiting = start_worker(docker_settings, burst=False)
        time.sleep(3)  # the waiting worker is up and blocked on the queue
        assert build_record(db, second.build_id).status == BuildStatus.QUEUED
        horse = lease_holder(redis_conn, first.build_id)
        assert horse is not None
        os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its work horse, at once
        os.kill(horse.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
        killed_at = time.monotonic()
        wait_for(lambda: build_record(db, second.build_id).status != BuildStatus.QUEUED, 30,
                 "the next build to leave QUEUED")
        print(f"next build started {time.monotonic() - killed_at:.1f} s after the kill")
        dead = build_record(db, first.build_id)
        assert dead.status == BuildStatus.FAILED and "worker died" in dead.failure_reason
    finally:
        for proc in (doomed, waiting):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for build in (first, second):
            holder = lease_holder(redis_conn, build.build_id)
            if holder is not None and not holder.is_dead():
                os.kill(holder.pid, signal.SIGKILL)
        _remove_build_containers(docker_client, marker)
