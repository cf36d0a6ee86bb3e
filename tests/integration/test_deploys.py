"""Builds hand their image over to the scheduler process: the build job leaves a deploy
request in Redis and ends; the scheduler loop (or ``process_pending_deploys``) runs it
through ``controller.deploy.deploy``. Real Redis, store, git, rq worker processes and Docker."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import docker
import httpx
import pytest
import redis

from podium.builds.deploys import NUDGE_KEY, DeployRequest, DeployRequests
from podium.builds.job import run_build
from podium.builds.logs import read_build_log
from podium.builds.queue import enqueue_build
from podium.config import Settings
from podium.controller.deployer import Deployer, Outcome, process_pending_deploys
from podium.controller.platform import Platform
from podium.keys import builds as keys
from podium.names import SpaceId
from podium.routes import RouteTable
from podium.scheduler.loop import run_forever
from podium.spaces.stage import BuildStatus, Stage
from podium.store import builds as store_builds
from podium.store import spaces as store_spaces
from podium.store.db import Database
from tests.conftest import require
from tests.integration import test_builds_docker as built
from tests.integration import test_builds_queue as queued
from tests.integration.test_builds_queue import (
    build_record,
    commit_files,
    new_space,
    space_record,
    wait_for,
)

# Fixtures shared with the build tests.
build_settings = queued.build_settings
db = queued.db
own_base = built.own_base
docker_settings = built.docker_settings
made_spaces = built.made_spaces

APP = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"MARKER"
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""
README = "---\ntitle: Tiny\nsdk: docker\napp_port: 8000\nstartup_duration_timeout: 2m\n---\n"
DOCKERFILE = """FROM {base}
COPY app.py /app/app.py
CMD ["python3", "-u", "/app/app.py"]
"""


def record_deploy(platform: Platform, request: DeployRequest) -> None:
    """A stand-in for ``controller.deploy.deploy`` that only notes its calls (one JSON line
    each): these tests check the deployer's own decisions, without an engine."""
    with open(platform.settings.data_dir / "deploys.jsonl", "a") as out:
        out.write(json.dumps({"space": request.space, "build_id": request.build_id}) + "\n")


def failing_deploy(platform: Platform, request: DeployRequest) -> None:
    raise RuntimeError("the engine is on fire")


def deploys_seen(settings: Settings) -> list[dict[str, str]]:
    path = settings.data_dir / "deploys.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def two_builds(
    db: Database, space_id: SpaceId, commit: str, status: BuildStatus = BuildStatus.SUCCEEDED,
) -> tuple[str, str]:
    """Two build records of one Space: (older, latest) as the store orders them, both left
    in ``status`` (QUEUED: as created)."""
    ids = []
    for _ in range(2):
        with db.session() as session:
            space = store_spaces.get_space(session, space_id)
            build = store_builds.create_build(session, space, commit)
            if status.is_final:
                store_builds.mark_finished(session, build, status, image="img:x")
            ids.append(str(build.id))
    with db.session() as session:
        latest = store_builds.latest_build(session, store_spaces.get_space(session, space_id))
        latest_id = str(latest.id)
    (older,) = [i for i in ids if i != latest_id]
    return older, latest_id


# --- the request table and the deployer (Redis and the store; no engine) ---------------


@pytest.fixture
def plain(build_settings: Settings, db: Database) -> Iterator[Platform]:
    """The process's Platform, for deployer tests that never reach its scheduler."""
    plat = Platform(build_settings)
    yield plat
    plat.close()


@pytest.mark.redis
def test_done_forgets_only_the_request_it_ran(redis_conn: redis.Redis) -> None:
    requests = DeployRequests(redis_conn)
    first = requests.put("a/b", "build-1", "img:1", 7860, "gradio", "c1")
    requests.put("a/b", "build-2", "img:2", 7860, "gradio", "c2")
    assert not requests.done(first)
    newer = requests.get("a/b")
    assert newer is not None and newer.build_id == "build-2"
    assert requests.done(newer)
    assert requests.get("a/b") is None and requests.pending() == []


@pytest.mark.redis
def test_a_deploy_nudge_ends_the_scheduler_loops_blocking_wait(redis_conn: redis.Redis) -> None:
    """The loop's one blocking read (wake requests) also ends on a build's deploy nudge, so
    a finished build starts without waiting for the loop's next pass. The wait here is a
    minute: returning at all means the nudge woke it (no poll)."""
    routes = RouteTable(redis_conn)
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(
        routes.wait_wake_request(timeout=60, also=(NUDGE_KEY,))))
    waiter.start()
    try:
        wait_for(lambda: any(c.get("cmd") == "brpop" for c in redis_conn.client_list()),
                 10, "the blocking read")
        DeployRequests(redis_conn).nudge()
        waiter.join(10)
        assert not waiter.is_alive(), "the nudge did not end the wait"
    finally:
        redis_conn.lpush(NUDGE_KEY, "1")  # never leave the thread waiting a minute
        waiter.join(70)
    assert got == [None]  # a nudge is not a wake request
    redis_conn.lpush(routes.keys.wake, "a/b")  # as the proxy asks (proxy.live)
    assert routes.wait_wake_request(timeout=5, also=(NUDGE_KEY,)) == "a/b"


@pytest.mark.redis
def test_a_request_replaced_before_it_ran_ends_its_builds_stream(
    redis_conn: redis.Redis,
) -> None:
    """Nothing will start the replaced build: a follower of its push must not wait for a
    ``ready`` that never comes."""
    requests = DeployRequests(redis_conn)
    requests.put("a/b", "build-1", "img:1", 7860, "gradio", "c1")
    requests.put("a/b", "build-2", "img:2", 7860, "gradio", "c2")
    (end,) = read_build_log(redis_conn, "build-1")
    assert (end.event, end.status) == ("failed", BuildStatus.SUCCEEDED)
    assert "replaced by build build-2" in (end.reason or "")
    assert read_build_log(redis_conn, "build-2") == []


@pytest.mark.redis
def test_a_stale_request_is_dropped_and_the_latest_one_deploys(
    build_settings: Settings, redis_conn: redis.Redis, db: Database,
    plain: Platform,
) -> None:
    settings = build_settings
    space_id, commit = new_space(settings, db)
    older, latest = two_builds(db, space_id, commit)
    requests = DeployRequests(redis_conn)

    requests.put(space_id.key, older, "img:old", 7860, "gradio", commit)
    assert process_pending_deploys(plain, record_deploy) == {space_id.key: Outcome.STALE}
    assert deploys_seen(settings) == [] and requests.pending() == []

    requests.put(space_id.key, latest, "img:new", 7860, "gradio", commit)
    assert process_pending_deploys(plain, record_deploy) == {space_id.key: Outcome.DEPLOYED}
    assert deploys_seen(settings) == [{"space": str(space_id), "build_id": latest}]
    assert requests.pending() == []


@pytest.mark.redis
def test_a_request_waits_for_its_build_to_be_recorded_and_goes_if_the_build_failed(
    build_settings: Settings, redis_conn: redis.Redis, db: Database,
    plain: Platform,
) -> None:
    # The job leaves its request just before it records the build's success; a worker
    # dying in between leaves the build to the reaper, which fails it.
    settings = build_settings
    space_id, commit = new_space(settings, db)
    _, latest = two_builds(db, space_id, commit, status=BuildStatus.QUEUED)
    requests = DeployRequests(redis_conn)
    requests.put(space_id.key, latest, "img:1", 7860, "gradio", commit)
    assert process_pending_deploys(plain, record_deploy) == {space_id.key: Outcome.WAITING}
    assert requests.get(space_id.key) is not None and deploys_seen(settings) == []
    with db.session() as session:
        build = store_builds.find_build(session, latest)
        assert build is not None
        store_builds.mark_finished(session, build, BuildStatus.FAILED,
                                   failure_reason="the worker died")
    assert process_pending_deploys(plain, record_deploy) == {space_id.key: Outcome.STALE}
    assert requests.pending() == [] and deploys_seen(settings) == []


@pytest.mark.redis
def test_a_request_for_a_deleted_space_is_dropped(
    build_settings: Settings, redis_conn: redis.Redis, db: Database,
    plain: Platform,
) -> None:
    settings = build_settings
    requests = DeployRequests(redis_conn)
    requests.put("gone/space", "b1", "img:1", 7860, "gradio", "c1")
    assert process_pending_deploys(plain, record_deploy) == {"gone/space": Outcome.STALE}
    assert deploys_seen(settings) == [] and requests.pending() == []


@pytest.mark.redis
def test_a_failing_deploy_shows_a_runtime_error_and_is_not_retried(
    build_settings: Settings, redis_conn: redis.Redis, db: Database,
    plain: Platform,
) -> None:
    settings = build_settings
    space_id, commit = new_space(settings, db)
    _, latest = two_builds(db, space_id, commit)
    DeployRequests(redis_conn).put(space_id.key, latest, "img:1", 7860, "gradio", commit)

    assert process_pending_deploys(plain, failing_deploy) == {space_id.key: Outcome.FAILED}
    space = space_record(db, space_id)
    assert space.stage == Stage.RUNTIME_ERROR
    assert "the engine is on fire" in space.stage_message
    assert process_pending_deploys(plain, record_deploy) == {}


@pytest.mark.redis
def test_a_space_being_deployed_elsewhere_keeps_its_request(
    build_settings: Settings, redis_conn: redis.Redis, db: Database,
    plain: Platform,
) -> None:
    settings = build_settings
    space_id, commit = new_space(settings, db)
    _, latest = two_builds(db, space_id, commit)
    DeployRequests(redis_conn).put(space_id.key, latest, "img:1", 7860, "gradio", commit)
    other = redis_conn.lock(keys.deploy_lock(space_id), timeout=60)
    assert other.acquire(blocking=False)
    try:
        assert process_pending_deploys(plain, record_deploy) == {space_id.key: Outcome.BUSY}
    finally:
        other.release()
    assert deploys_seen(settings) == []
    assert process_pending_deploys(plain, record_deploy) == {space_id.key: Outcome.DEPLOYED}


# --- real builds, a real scheduler loop ---------------------------------------------------


def tiny_space(settings: Settings, db: Database, base: str) -> tuple[SpaceId, str]:
    space_id, _ = new_space(settings, db)
    files = {"README.md": README, "Dockerfile": DOCKERFILE.format(base=base), "app.py": APP}
    # A unique comment keeps the engine from reusing another test's code layer.
    files["app.py"] += f"# {uuid.uuid4().hex}\n"
    return space_id, commit_files(settings, space_id, files)


@pytest.fixture
def deploy_settings(docker_settings: Settings) -> Iterator[Settings]:
    """A label scope of this test's own for the containers the real deploy starts."""
    require(shutil.which("iptables") is not None, "iptables is not installed")
    yield docker_settings.model_copy(update={"instance": f"test-{uuid.uuid4().hex[:8]}"})


@pytest.fixture
def platform(deploy_settings: Settings, db: Database) -> Iterator[Platform]:
    plat = Platform(deploy_settings)
    yield plat
    backend = plat.scheduler.backend
    for instance in backend.list_instances():
        backend.remove(instance)
    plat.close()


@pytest.mark.docker
def test_a_build_leaves_a_request_that_survives_until_the_scheduler_loop_runs_it(
    deploy_settings: Settings, redis_conn: redis.Redis, db: Database, own_base: str,
    made_spaces: list[SpaceId], platform: Platform,
) -> None:
    settings = deploy_settings
    space_id, commit = tiny_space(settings, db, own_base)
    made_spaces.append(space_id)
    ref = enqueue_build(settings, redis_conn, db, space_id, commit)

    # No scheduler is running: the worker ends with the image built and nothing started.
    built.run_burst_worker(settings)
    build = build_record(db, ref.build_id)
    assert build.status == BuildStatus.SUCCEEDED, build.failure_reason
    request = DeployRequests(redis_conn).get(space_id.key)
    assert request is not None
    # The job nudged the scheduler loop once its request could run.
    assert redis_conn.llen(NUDGE_KEY) >= 1
    assert (request.build_id, request.image, request.app_port, request.sdk, request.commit) == (
        ref.build_id, build.image, 8000, "docker", commit,
    )
    space = space_record(db, space_id)
    assert space.stage == Stage.APP_STARTING and space.deployed_image is None
    assert platform.scheduler.backend.list_instances(space_id.key) == []

    # The scheduler starts later and drains what was left for it.
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(platform.scheduler, stop), kwargs={
        "idle_every": 3600, "reconcile_every": 3600,
        "deploys": Deployer(platform),
    })
    loop.start()
    try:
        wait_for(lambda: space_record(db, space_id).stage != Stage.APP_STARTING, 180,
                 "the deploy to end")
    finally:
        stop.set()
        loop.join(60)
    assert not loop.is_alive()
    space = space_record(db, space_id)
    assert space.stage == Stage.RUNNING, (space.stage_message, space.error_detail)
    assert (space.deployed_image, space.deployed_commit) == (build.image, commit)
    assert DeployRequests(redis_conn).pending() == []
    route = platform.routes.get(space_id.key)
    assert route is not None and route.upstream
    assert httpx.get(route.upstream, timeout=5, trust_env=False).text == "MARKER"


@pytest.mark.docker
def test_an_older_build_finishing_late_leaves_no_request(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database, own_base: str,
    made_spaces: list[SpaceId], docker_client: docker.DockerClient,
) -> None:
    settings = docker_settings
    space_id, commit = tiny_space(settings, db, own_base)
    made_spaces.append(space_id)
    ref = enqueue_build(settings, redis_conn, db, space_id, commit)
    # A newer push lands while the older build runs (its record only: nothing builds it).
    with db.session() as session:
        space = store_spaces.get_space(session, space_id)
        newer = store_builds.create_build(session, space, commit)
        newer.queued_at = store_builds.get_build(session, ref.build_id).queued_at + timedelta(
            seconds=1
        )
        store_spaces.set_stage(session, space, Stage.BUILDING, "newer build queued")

    status = run_build(settings, redis_conn, db, space_id, ref.build_id, commit,
                       client=docker_client)

    assert status == BuildStatus.SUCCEEDED
    assert DeployRequests(redis_conn).pending() == []
    space = space_record(db, space_id)
    assert (space.stage, space.stage_message) == (Stage.BUILDING, "newer build queued")
