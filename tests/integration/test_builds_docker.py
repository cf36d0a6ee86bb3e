"""Real builds through the queue: rq worker processes, the Docker engine, git bare repos.

The gradio Spaces use the gradio-hello template's sdk_version, so the SDK layer is shared
with every other test and built once per engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
import redis
from rq import Worker
from rq.job import JobStatus

from podium.builds.deploys import DeployRequest
from podium.builds.lease import lease_holder
from podium.builds.logs import follow_build_log, read_build_log
from podium.builds.queue import build_queue, enqueue_build, fetch_job
from podium.builds.reaper import reap_stale_builds
from podium.config import Settings
from podium.controller.deployer import Outcome, process_pending_deploys
from podium.controller.platform import Platform
from podium.keys import builds as keys
from podium.names import SpaceId
from podium.spaces.stage import BuildPhase, BuildStatus, Stage
from podium.store import builds as store_builds
from podium.store import spaces as store_spaces
from podium.store.db import Database
from tests.conftest import require
from tests.integration import test_builds_queue as shared
from tests.integration.test_builds_queue import (
    CA_BUNDLE,
    build_record,
    commit_files,
    new_space,
    space_record,
    start_worker,
    wait_for,
    worker_env,
    worker_log,
)

# The fixtures of test_builds_queue, shared.
build_settings = shared.build_settings
db = shared.db

pytestmark = pytest.mark.docker
WORKER_TIMEOUT = 900


@pytest.fixture(scope="module")
def own_base(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    """The base image under a tag of this module's own: other tests may rebuild or remove
    the shared tag meanwhile. Same image id, so the layer cache stays shared."""
    ref = f"podium-test/builds-base:{uuid.uuid4().hex[:12]}"
    docker_client.images.get(base_image).tag(ref)
    yield ref
    docker_client.images.remove(ref, noprune=True)


@pytest.fixture
def docker_settings(build_settings: Settings, own_base: str) -> Iterator[Settings]:
    require(CA_BUNDLE.is_file(), f"no CA bundle at {CA_BUNDLE} for pip inside builds")
    yield build_settings.model_copy(update={"base_image": own_base})


@pytest.fixture
def made_spaces(docker_client: docker.DockerClient) -> Iterator[list[SpaceId]]:
    """Spaces whose images the test removes at the end (layers kept: they are the cache)."""
    spaces: list[SpaceId] = []
    yield spaces
    for space_id in spaces:
        repository = space_id.image_repository()
        for image in docker_client.images.list(name=repository):
            # Only this Space's tags: the same image may also carry shared ones (the base).
            for tag in image.tags:
                if tag.rsplit(":", 1)[0] == repository:
                    docker_client.images.remove(tag, noprune=True)


def run_burst_worker(settings: Settings) -> None:
    proc = start_worker(settings, burst=True)
    try:
        code = proc.wait(timeout=WORKER_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 0, worker_log(settings)


def record_deploy(platform: Platform, request: DeployRequest) -> None:
    """A stand-in for ``controller.deploy.deploy`` for the retention test, which needs the
    Space to have a deployed image but no container (run by the deployer, in this process)."""
    (platform.settings.data_dir / "deployed.json").write_text(request.to_json())
    with platform.db.session() as session:
        space = store_spaces.get_space(session, SpaceId.parse(request.space))
        store_spaces.update_space(
            session, space, deployed_image=request.image, deployed_commit=request.commit
        )
        store_spaces.set_stage(session, space, Stage.RUNNING)


def test_gradio_template_builds_end_to_end_through_the_queue(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, made_spaces: list[SpaceId],
) -> None:
    require(shutil.which("iptables") is not None, "iptables is not installed")
    # A label scope of this test's own for the container the real deploy starts.
    settings = docker_settings.model_copy(update={"instance": f"test-{uuid.uuid4().hex[:8]}"})
    space_id, commit = new_space(settings, db)
    made_spaces.append(space_id)
    ref = enqueue_build(settings, redis_conn, db, space_id, commit)
    assert space_record(db, space_id).stage == Stage.BUILDING
    run_burst_worker(settings)

    # The image is built; the stream goes on (no terminal event): the deploy ends it.
    events = read_build_log(redis_conn, ref.build_id)
    assert events and not any(e.is_terminal for e in events), worker_log(settings)
    seen = list(dict.fromkeys(e.phase for e in events))
    assert {"clone", "sdk", "code", "export"} <= set(seen) <= {p.value for p in BuildPhase}
    assert (seen[0], seen[-1]) == ("clone", "export")

    build = build_record(db, ref.build_id)
    assert build.status == BuildStatus.SUCCEEDED
    assert build.image == space_id.image_ref(commit[:12])
    assert build.started_at is not None and build.duration_s and build.duration_s > 0
    assert build.log.splitlines() == [e.data for e in events]
    image = docker_client.images.get(build.image)
    assert image.labels["podium.commit"] == commit

    # The job only left a deploy request: the scheduler process runs it, for real.
    assert space_record(db, space_id).stage == Stage.APP_STARTING
    platform = Platform(settings)
    try:
        assert process_pending_deploys(platform) == {space_id.key: Outcome.DEPLOYED}
        events = read_build_log(redis_conn, ref.build_id)
        terminals = [e for e in events if e.is_terminal]
        assert [e.event for e in terminals] == ["ready"] and events[-1] is terminals[0]
        assert events[-1].status == BuildStatus.SUCCEEDED
        assert list(dict.fromkeys(e.phase for e in events[:-1]))[-2:] == ["export", "launching"]
        space = space_record(db, space_id)
        assert space.stage == Stage.RUNNING, (space.stage_message, space.error_detail)
        assert (space.deployed_image, space.deployed_commit) == (build.image, commit)
        route = platform.routes.get(space_id.key)
        assert route is not None and route.upstream
        assert httpx.get(route.upstream, timeout=10, trust_env=False).status_code == 200
    finally:
        backend = platform.scheduler.backend
        for instance in backend.list_instances():
            backend.remove(instance)
        platform.close()


def test_a_missing_requirement_fails_with_pips_error(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    made_spaces: list[SpaceId],
) -> None:
    space_id, _ = new_space(docker_settings, db)
    made_spaces.append(space_id)
    package = f"podium-no-such-package-{uuid.uuid4().hex[:8]}"
    commit = commit_files(docker_settings, space_id, {"requirements.txt": f"{package}==1.0\n"})
    ref = enqueue_build(docker_settings, redis_conn, db, space_id, commit)
    run_burst_worker(docker_settings)

    build = build_record(db, ref.build_id)
    assert build.status == BuildStatus.FAILED, worker_log(docker_settings)
    assert build.image is None
    assert package in build.failure_reason
    pip_error = f"No matching distribution found for {package}"
    assert pip_error in build.log
    assert pip_error in build.failure_reason or "requirements.txt" in build.failure_reason
    space = space_record(db, space_id)
    assert space.stage == Stage.BUILD_ERROR and space.deployed_image is None
    events = read_build_log(redis_conn, ref.build_id)
    assert events[-1].is_terminal and events[-1].status == BuildStatus.FAILED
    assert events[-1].reason == build.failure_reason
    assert any(pip_error in e.data and e.phase == "dependencies" for e in events)


def test_a_failed_build_after_a_deploy_keeps_the_running_version(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, own_base: str, made_spaces: list[SpaceId],
) -> None:
    space_id, good_commit = new_space(docker_settings, db)
    made_spaces.append(space_id)
    # What a deploy left behind: an image, and the Space serving it.
    previous = space_id.image_ref(good_commit[:12])
    docker_client.images.get(own_base).tag(previous)
    previous_id = docker_client.images.get(previous).id
    with db.session() as session:
        space = store_spaces.get_space(session, space_id)
        store_spaces.update_space(
            session, space, deployed_image=previous, deployed_commit=good_commit
        )
        store_spaces.set_stage(session, space, Stage.RUNNING)

    bad = commit_files(
        docker_settings, space_id, {"requirements.txt": f"no-such-pkg-{uuid.uuid4().hex}\n"}
    )
    ref = enqueue_build(docker_settings, redis_conn, db, space_id, bad)
    assert space_record(db, space_id).stage == Stage.RUNNING_BUILDING
    run_burst_worker(docker_settings)

    assert build_record(db, ref.build_id).status == BuildStatus.FAILED
    space = space_record(db, space_id)
    assert space.stage == Stage.RUNNING
    assert space.error_detail == build_record(db, ref.build_id).failure_reason
    assert (space.deployed_image, space.deployed_commit) == (previous, good_commit)
    assert docker_client.images.get(previous).id == previous_id
    with db.session() as session:
        latest = store_builds.latest_build(session, store_spaces.get_space(session, space_id))
        assert latest.id == ref.build_id


def _sleeping_space(settings: Settings, db: Database, base_image: str, marker: str) -> Any:
    space_id, _ = new_space(settings, db)
    readme = "---\ntitle: Slow\nsdk: docker\napp_port: 8000\n---\n"
    dockerfile = f"FROM {base_image}\nRUN echo {marker} && sleep 120\n"
    commit = commit_files(settings, space_id, {"README.md": readme, "Dockerfile": dockerfile})
    return space_id, commit


def _two_sleeping_builds(
    settings: Settings, redis_conn: redis.Redis, db: Database, base_image: str,
    made_spaces: list[SpaceId],
) -> tuple[str, Any, Any]:
    """Two queued builds whose RUN step sleeps for two minutes: (marker, first, second)."""
    marker = f"sleeping-{uuid.uuid4().hex}"
    first_space, first_commit = _sleeping_space(settings, db, base_image, marker)
    second_space, second_commit = _sleeping_space(settings, db, base_image, marker)
    made_spaces.extend([first_space, second_space])
    first = enqueue_build(settings, redis_conn, db, first_space, first_commit)
    second = enqueue_build(settings, redis_conn, db, second_space, second_commit)
    return marker, first, second


def _wait_for_sleep_step(redis_conn: redis.Redis, build_id: str, marker: str) -> None:
    """Follow the build's log until its RUN step is running (it printed ``marker``)."""
    for event in follow_build_log(redis_conn, build_id, idle_timeout=120):
        assert not event.is_terminal, f"build ended early: {event.reason}"
        if marker in event.data and not event.data.startswith("Step"):
            return


def test_killing_the_worker_mid_build_fails_the_build(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, own_base: str, made_spaces: list[SpaceId],
) -> None:
    marker = f"sleeping-{uuid.uuid4().hex}"
    space_id, commit = _sleeping_space(docker_settings, db, own_base, marker)
    made_spaces.append(space_id)
    ref = enqueue_build(docker_settings, redis_conn, db, space_id, commit)
    proc = start_worker(docker_settings, burst=False)
    try:
        _wait_for_sleep_step(redis_conn, ref.build_id, marker)
        assert build_record(db, ref.build_id).status == BuildStatus.BUILDING
        # Asked again while it runs: the same build, no second job.
        again = enqueue_build(docker_settings, redis_conn, db, space_id, commit)
        assert again.attached and again.build_id == ref.build_id
        # As when the machine or container dies: the worker and its work horse (rq puts
        # the horse in a process group of its own; the lease names it).
        horse = lease_holder(redis_conn, ref.build_id)
        assert horse is not None and horse.pid != proc.pid
        os.killpg(proc.pid, signal.SIGKILL)
        os.kill(horse.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _remove_build_containers(docker_client, marker)

    assert build_record(db, ref.build_id).status == BuildStatus.BUILDING  # nobody knows yet
    assert reap_stale_builds(docker_settings, redis_conn, db) == [ref.build_id]
    build = build_record(db, ref.build_id)
    assert build.status == BuildStatus.FAILED and "worker died" in build.failure_reason
    assert space_record(db, space_id).stage == Stage.BUILD_ERROR
    events = list(follow_build_log(redis_conn, ref.build_id, idle_timeout=5))
    assert events[-1].is_terminal and events[-1].status == BuildStatus.FAILED


def _remove_build_containers(client: docker.DockerClient, marker: str) -> None:
    """The killed build's RUN container: the engine cancels it when the client goes away,
    or else it is removed here."""
    def leftovers() -> list[str]:
        # The low-level listing: no per-container inspect racing the engine's removal.
        return [c["Id"] for c in client.api.containers(all=True) if marker in c["Command"]]

    for container_id in leftovers():
        try:
            client.api.remove_container(container_id, force=True)
        except docker.errors.APIError:
            pass  # already gone, or being removed by the engine
    wait_for(lambda: not leftovers(), 60, "the killed build's container to go")


def test_two_workers_run_one_build_at_a_time_under_a_limit_of_one(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, own_base: str, made_spaces: list[SpaceId],
) -> None:
    marker, first, second = _two_sleeping_builds(
        docker_settings, redis_conn, db, own_base, made_spaces)
    workers = [start_worker(docker_settings, burst=False) for _ in range(2)]
    try:
        _wait_for_sleep_step(redis_conn, first.build_id, marker)
        # Both workers are up (one idle), yet the second build must still be waiting.
        queue = build_queue(docker_settings, redis_conn)
        wait_for(lambda: Worker.count(queue=queue) == 2, 60, "both workers to register")
        assert build_record(db, second.build_id).status == BuildStatus.QUEUED
        job = fetch_job(docker_settings, redis_conn, second.job_id)
        assert job is not None and job.get_status() == JobStatus.RATE_LIMITED
        assert list(redis_conn.hkeys(keys.ACTIVE)) == [first.build_id.encode()]
        horse = lease_holder(redis_conn, first.build_id)
        assert horse is not None
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        holder = lease_holder(redis_conn, first.build_id)
        if holder is not None and not holder.is_dead():
            os.kill(holder.pid, signal.SIGKILL)
        _remove_build_containers(docker_client, marker)


def test_four_builds_of_one_space_leave_three_images_and_delete_leaves_none(
    docker_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, made_spaces: list[SpaceId],
) -> None:
    """Issue 15 item 3: every build used to leave its image on the engine forever. The
    running image and the previous PODIUM_IMAGE_RETENTION (2) stay; older ones go after
    the next build; deleting the Space removes the rest."""
    from podium.builder.retention import space_images
    from podium.controller.lifecycle import delete

    settings = docker_settings.model_copy(update={"image_retention": 2})
    space_id, commit = new_space(settings, db)
    made_spaces.append(space_id)
    built: list[str] = []
    for round_no in range(4):  # one more than retention keeps, plus the running one
        if round_no:
            commit = commit_files(settings, space_id, {
                "app.py": f"import gradio as gr\ngr.Markdown('v{round_no} {uuid.uuid4().hex}')"
                          ".launch()\n"})
        ref = enqueue_build(settings, redis_conn, db, space_id, commit)
        run_burst_worker(settings)
        assert build_record(db, ref.build_id).status == BuildStatus.SUCCEEDED, \
            worker_log(settings)
        platform = Platform(settings)
        try:
            process_pending_deploys(platform, record_deploy)
        finally:
            platform.close()
        built.append(space_id.image_ref(commit[:12]))
        assert space_record(db, space_id).deployed_image == built[-1]
    left = [ref for ref, _ in space_images(docker_client, space_id)]
    assert left == built[:-4:-1], left  # the running one and the two before it

    # A sleeping Space's deployed image has no container holding it: retention keeps it
    # even when it is not among the newest (here: retention 0 and a build not deployed).
    quiet = settings.model_copy(update={"image_retention": 0})
    commit = commit_files(quiet, space_id, {"app.py": f"print('{uuid.uuid4().hex}')\n"})
    enqueue_build(quiet, redis_conn, db, space_id, commit)
    run_burst_worker(quiet)
    left = [ref for ref, _ in space_images(docker_client, space_id)]
    assert left == [space_id.image_ref(commit[:12]), built[-1]], left
    # `podium gc` (the worker's hourly pass) keeps the same two.
    gc = subprocess.run([sys.executable, "-m", "podium", "gc"], env=worker_env(quiet),
                        capture_output=True, text=True, timeout=300)
    assert gc.returncode == 0 and "reclaimed" in gc.stdout + gc.stderr, gc.stdout + gc.stderr
    assert [ref for ref, _ in space_images(docker_client, space_id)] == left

    platform = Platform(settings)
    try:
        delete(platform, space_id)
    finally:
        platform.close()
    assert space_images(docker_client, space_id) == []
