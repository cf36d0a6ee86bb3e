"""podium.builds against real Redis, rq, SQLite and git, without building images:
coalescing, superseding, the build limit, the reaper and log replay."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq.job import JobStatus

from podium.builds.job import run_build
from podium.builds.lease import ProcessId
from podium.builds.logs import BuildLog, follow_build_log
from podium.builds.queue import build_queue, enqueue_build
from podium.builds.reaper import reap_stale_builds
from podium.builds.worker import BuildWorker
from podium.config import Settings
from podium.keys import builds as keys
from podium.names import SpaceId
from podium.resources import templates_dir
from podium.spaces.stage import BuildPhase, BuildStatus, Stage
from podium.store import builds as store_builds
from podium.store import spaces as store_spaces
from podium.store.db import Database

REPO_ROOT = Path(__file__).resolve().parents[2]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


# --- helpers shared with test_builds_docker.py -----------------------------------------


@pytest.fixture
def build_settings(settings: Settings, redis_url: str) -> Settings:
    return settings.model_copy(update={
        "redis_url": redis_url,
        "queue_name": f"test-builds-{uuid.uuid4().hex[:8]}",
        "ca_bundle": CA_BUNDLE if CA_BUNDLE.is_file() else None,
        "max_concurrent_builds": 1,
    })


@pytest.fixture
def db(build_settings: Settings) -> Iterator[Database]:
    database = Database(build_settings)
    database.create_all()
    yield database
    database.dispose()


def new_space(
    settings: Settings, db: Database, template: str = "gradio-hello", **fields: Any
) -> tuple[SpaceId, str]:
    """A Space record plus its bare repository holding ``template``; returns (id, commit)."""
    from podium.gitserver.repo import init_from_template

    space_id = SpaceId("tester", f"s-{uuid.uuid4().hex[:10]}")
    with db.session() as session:
        store_spaces.create_space(session, space_id, sdk="gradio", **fields)
    commit = init_from_template(settings, space_id, templates_dir() / template, "tester")
    return space_id, commit


def commit_files(
    settings: Settings, space_id: SpaceId, files: dict[str, str], message: str = "change"
) -> str:
    """A new commit on main changing ``files`` (path -> content), written with plumbing so
    no server hook runs."""
    git_dir = space_id.repo_path(settings.repos_dir)
    env = {
        **os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
    }

    def git(*args: str, cwd: Path | None = None, data: bytes | None = None) -> str:
        out = subprocess.run(
            ["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True,
            env=env, cwd=cwd, input=data,
        )
        return out.stdout.decode().strip()

    parent = git("rev-parse", "refs/heads/main")
    work = settings.data_dir / f"work-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        subprocess.run(
            f"git --git-dir={git_dir} archive {parent} | tar -x -C {work}", shell=True,
            check=True,
        )
        for path, content in files.items():
            (work / path).write_text(content)
        env["GIT_INDEX_FILE"] = str(work.with_suffix(".index"))
        git("--work-tree", str(work), "add", "--all", ".", cwd=work)
        tree = git("write-tree")
        sha = git("commit-tree", tree, "-p", parent, data=message.encode())
        git("update-ref", "refs/heads/main", sha, parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        Path(str(work.with_suffix(".index"))).unlink(missing_ok=True)
    return sha


def build_record(db: Database, build_id: str) -> Any:
    with db.session() as session:
        return store_builds.get_build(session, build_id)


def space_record(db: Database, space_id: SpaceId) -> Any:
    with db.session() as session:
        return store_spaces.get_space(session, space_id)


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    return {**env, **settings.to_env()}


def start_worker(settings: Settings, *, burst: bool) -> subprocess.Popen[bytes]:
    """A real worker process (its own process group, so a test can kill it whole)."""
    args = [sys.executable, "-m", "podium.builds.worker"] + (["--burst"] if burst else [])
    with open(settings.data_dir / "worker.log", "ab") as out:
        return subprocess.Popen(
            args, env=worker_env(settings), start_new_session=True, cwd=REPO_ROOT,
            stdout=out, stderr=subprocess.STDOUT,
        )


def worker_log(settings: Settings) -> str:
    path = settings.data_dir / "worker.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def wait_for(predicate: Any, timeout: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


# --- tests --------------------------------------------------------------------------------


def test_two_requests_for_one_commit_share_one_build_and_one_job(
    build_settings: Settings, redis_conn: redis.Redis, db: Database
) -> None:
    space_id, commit = new_space(build_settings, db)
    first = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    second = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    assert not first.attached and second.attached
    assert second.build_id == first.build_id and second.job_id == first.job_id
    queue = build_queue(build_settings, redis_conn)
    assert queue.get_job_ids() == [first.job_id]
    with db.session() as session:
        space = store_spaces.get_space(session, space_id)
        assert [b.id for b in store_builds.list_builds(session, space)] == [first.build_id]
        assert space.stage == Stage.BUILDING


def test_a_newer_commit_supersedes_the_queued_build(
    build_settings: Settings, redis_conn: redis.Redis, db: Database
) -> None:
    space_id, old_commit = new_space(build_settings, db)
    new_commit = commit_files(build_settings, space_id, {"app.py": "print('v2')\n"})
    old = enqueue_build(build_settings, redis_conn, db, space_id, old_commit)
    new = enqueue_build(build_settings, redis_conn, db, space_id, new_commit)
    assert new.build_id != old.build_id
    assert build_record(db, old.build_id).status == BuildStatus.SUPERSEDED
    assert build_record(db, new.build_id).status == BuildStatus.QUEUED
    queue = build_queue(build_settings, redis_conn)
    assert queue.get_job_ids() == [new.job_id]
    assert queue.fetch_job(old.job_id).get_status() == JobStatus.CANCELED
    # Followers of the old build are told it ended.
    events = list(follow_build_log(redis_conn, old.build_id, block_ms=100, idle_timeout=1))
    assert events[-1].is_terminal and events[-1].status == BuildStatus.SUPERSEDED
    # A worker that dequeued the old job before the cancel lands does nothing with it.
    status = run_build(build_settings, redis_conn, db, space_id, old.build_id, old_commit)
    assert status == BuildStatus.SUPERSEDED
    assert build_record(db, old.build_id).started_at is None
    # The same old commit asked again is a fresh build, not the superseded one.
    again = enqueue_build(build_settings, redis_conn, db, space_id, old_commit)
    assert not again.attached and again.build_id != old.build_id
    assert build_record(db, new.build_id).status == BuildStatus.SUPERSEDED


def test_builds_beyond_the_limit_wait_in_redis_not_in_a_worker(
    build_settings: Settings, redis_conn: redis.Redis, db: Database
) -> None:
    refs = []
    for _ in range(3):
        space_id, commit = new_space(build_settings, db)
        refs.append(enqueue_build(build_settings, redis_conn, db, space_id, commit))
    queue = build_queue(build_settings, redis_conn)
    statuses = [queue.fetch_job(r.job_id).get_status() for r in refs]
    assert statuses == [JobStatus.QUEUED, JobStatus.RATE_LIMITED, JobStatus.RATE_LIMITED]
    assert queue.get_job_ids() == [refs[0].job_id]


_DIE_MID_BUILD = """
import os, signal, sys
import redis
from podium.builds.job import _claim, _start
from podium.builds.lease import Lease
from podium.config import Settings
from podium.names import SpaceId
from podium.store.db import Database
settings = Settings()
conn = redis.Redis.from_url(settings.redis_url)
space, build_id = SpaceId.parse(sys.argv[1]), sys.argv[2]
Lease(conn, space, build_id).__enter__()
assert _claim(conn, build_id) and _start(Database(settings), space, build_id)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_reaper_fails_a_build_whose_process_was_killed(
    build_settings: Settings, redis_conn: redis.Redis, db: Database
) -> None:
    space_id, commit = new_space(build_settings, db)
    ref = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    proc = subprocess.run(
        [sys.executable, "-c", _DIE_MID_BUILD, str(space_id), ref.build_id],
        env=worker_env(build_settings), capture_output=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert build_record(db, ref.build_id).status == BuildStatus.BUILDING
    # The same commit asked again must not attach to the dead build.
    again = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    assert not again.attached and again.build_id != ref.build_id
    dead = build_record(db, ref.build_id)
    assert dead.status == BuildStatus.FAILED and "worker died" in dead.failure_reason
    assert reap_stale_builds(build_settings, redis_conn, db) == []  # already handled


def test_reaper_waits_for_a_remote_lease_to_run_out(
    build_settings: Settings, redis_conn: redis.Redis, db: Database
) -> None:
    space_id, commit = new_space(build_settings, db)
    ref = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    with db.session() as session:
        store_builds.mark_started(session, store_builds.get_build(session, ref.build_id))
    elsewhere = ProcessId("another-host", "pid:[1]", 1, "1")
    redis_conn.set(keys.lease(ref.build_id), elsewhere.dumps(), px=1500)
    redis_conn.hset(keys.ACTIVE, ref.build_id, str(space_id))
    assert reap_stale_builds(build_settings, redis_conn, db) == []
    assert build_record(db, ref.build_id).status == BuildStatus.BUILDING
    wait_for(lambda: not redis_conn.exists(keys.lease(ref.build_id)), 10, "lease expiry")
    assert reap_stale_builds(build_settings, redis_conn, db) == [ref.build_id]
    record = build_record(db, ref.build_id)
    assert record.status == BuildStatus.FAILED and "worker died" in record.failure_reason
    assert space_record(db, space_id).stage == Stage.BUILD_ERROR
    assert not redis_conn.hexists(keys.ACTIVE, ref.build_id)


def test_worker_teardown_does_not_wait_for_its_command_thread(
    build_settings: Settings, redis_conn: redis.Redis,
) -> None:
    """The state a SIGTERM under load left the worker in (test_up's child that outlived a
    killed `podium up`): rq's command thread has read an UNSUBSCRIBE reply and waits up to
    60 s for a subscription. rq's own teardown joined it with no bound; ours gives it
    PUBSUB_STOP_WAIT."""
    worker = BuildWorker([build_queue(build_settings, redis_conn)], connection=redis_conn)
    worker.subscribe()
    wait_for(lambda: worker.pubsub.subscribed, 10, "the command channel subscription")
    worker.pubsub.unsubscribe()
    wait_for(lambda: not worker.pubsub.subscribed, 10, "the unsubscribe reply")
    time.sleep(0.5)  # the thread is back in get_message, waiting for a subscription
    assert worker.pubsub_thread.is_alive()

    started = time.monotonic()
    worker.unsubscribe()
    # A liveness bound, not a benchmark: rq's teardown took the thread's whole 60 s.
    assert time.monotonic() - started < 30


def sse_events(
    settings: Settings, redis_url: str, db: Database, path: str,
) -> tuple[int, list[tuple[str, dict[str, str]]]]:
    """GET an SSE route of the build-log router (real Redis, the store): status and
    (event name, data) pairs until the server ends the stream."""
    import anyio
    import redis.asyncio
    from fastapi import FastAPI

    from podium.api.errors import install_error_handlers
    from podium.builds.routes import build_logs_router

    async def fetch(path: str) -> tuple[int, list[tuple[str, dict[str, str]]]]:
        aconn = redis.asyncio.Redis.from_url(redis_url)
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(build_logs_router(settings, aconn, db))
        events: list[tuple[str, dict[str, str]]] = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            async with client.stream("GET", path) as response:
                name = "message"
                async for raw in response.aiter_lines():
                    if raw.startswith("event:"):
                        name = raw.split(":", 1)[1].strip()
                    elif raw.startswith("data:"):
                        events.append((name, json.loads(raw.split(":", 1)[1])))
                        name = "message"
                status = response.status_code
        await aconn.aclose()
        return status, events

    return anyio.run(fetch, path)


def test_sse_route_replays_a_finished_build_from_its_record(
    build_settings: Settings, redis_conn: redis.Redis, redis_url: str, db: Database
) -> None:
    space_id, commit = new_space(build_settings, db)
    ref = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    blog = BuildLog(redis_conn, ref.build_id)
    lines = [f"line {i} {uuid.uuid4().hex}" for i in range(3)]
    for line in lines:
        blog.write(BuildPhase.DEPENDENCIES, line)
    with db.session() as session:
        build = store_builds.get_build(session, ref.build_id)
        store_builds.mark_started(session, build)
        store_builds.mark_finished(
            session, build, BuildStatus.FAILED, failure_reason="boom", log=blog.text
        )
    blog.failed(BuildStatus.FAILED, "boom")

    def fetch(path: str) -> tuple[int, list[tuple[str, dict[str, str]]]]:
        return sse_events(build_settings, redis_url, db, path)

    path = f"/api/spaces/{space_id.owner}/{space_id.name}/logs/build"
    # From the stream (still within its TTL): phases and timestamps kept.
    status, events = fetch(path)
    assert status == 200
    assert [e[1]["data"] for e in events[:-1]] == lines
    assert {e[1]["phase"] for e in events[:-1]} == {"dependencies"}
    assert all(e[1]["timestamp"].endswith("Z") for e in events[:-1])
    assert events[-1] == ("failed", {"status": "FAILED", "reason": "boom"})
    # From the record once the stream expired.
    redis_conn.delete(keys.log_stream(ref.build_id))
    status, events = fetch(path + f"?build={ref.build_id}")
    assert [e[1]["data"] for e in events[:-1]] == lines
    assert events[-1] == ("failed", {"status": "FAILED", "reason": "boom"})
    status, _ = fetch(f"/api/spaces/{space_id.owner}/{space_id.name}x/logs/build")
    assert status == 404
    # Another Space's build is not reachable through this Space's route.
    other_id, _ = new_space(build_settings, db)
    other = f"/api/spaces/{other_id.owner}/{other_id.name}/logs/build?build={ref.build_id}"
    status, _ = fetch(other)
    assert status == 404


def test_sse_follows_a_succeeded_build_through_launching_to_ready(
    build_settings: Settings, redis_conn: redis.Redis, redis_url: str, db: Database
) -> None:
    """Issue 11 item 4: the image built (record SUCCEEDED) is not the end of the stream; it
    goes on with the deploy's ``launching`` lines to one terminal ``ready``."""
    space_id, commit = new_space(build_settings, db)
    ref = enqueue_build(build_settings, redis_conn, db, space_id, commit)
    blog = BuildLog(redis_conn, ref.build_id)
    blog.write(BuildPhase.EXPORT, "exported")
    with db.session() as session:
        build = store_builds.get_build(session, ref.build_id)
        store_builds.mark_started(session, build)
        store_builds.mark_finished(session, build, BuildStatus.SUCCEEDED, image="img:1",
                                   log=blog.text)

    def deploy_later() -> None:
        # Longer than one blocking read (2 s): an idle follower must keep waiting.
        time.sleep(3)
        blog.write(BuildPhase.LAUNCHING, "Starting")
        assert blog.ready()
        # A second end (a newer push racing the deployer) adds nothing.
        assert not blog.failed(BuildStatus.SUCCEEDED, "replaced")

    writer = threading.Thread(target=deploy_later)
    writer.start()
    status, events = sse_events(build_settings, redis_url, db,
                                f"/api/spaces/{space_id.owner}/{space_id.name}/logs/build")
    writer.join()
    assert status == 200
    assert [(name, e.get("phase")) for name, e in events] == [
        ("message", "export"), ("message", "launching"), ("ready", None)]
    entries = list(follow_build_log(redis_conn, ref.build_id, block_ms=100, idle_timeout=1))
    assert [e.event for e in entries if e.is_terminal] == ["ready"]
    # Replayed from the record once the stream expired: ready only for the version deployed.
    redis_conn.delete(keys.log_stream(ref.build_id))
    path = f"/api/spaces/{space_id.owner}/{space_id.name}/logs/build"
    _, events = sse_events(build_settings, redis_url, db, path)
    assert events[-1] == ("failed", {"status": "SUCCEEDED",
                                     "reason": "built; not the version deployed"})
    with db.session() as session:
        store_spaces.update_space(session, store_spaces.get_space(session, space_id),
                                  deployed_image="img:1")
    _, events = sse_events(build_settings, redis_url, db, path)
    assert [e[1]["data"] for e in events[:-1]] == ["exported"]
    assert events[-1] == ("ready", {"status": "SUCCEEDED", "reason": ""})
