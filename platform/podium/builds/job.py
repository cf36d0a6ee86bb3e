"""The build job: export the commit, build the image with live logs, record the result and
hand the image over to deployment.

``build_job`` is what rq runs (dotted path ``podium.builds.job.build_job``); it rebuilds
``Settings()`` from the PODIUM_* environment the worker passes down. ``run_build`` is the
same work with everything passed in.

The job never starts a container (the worker's slot is free once the image exists): for the
Space's latest build it shows APP_STARTING (RUNNING_APP_STARTING while a version serves) and
leaves a deploy request (``builds.deploys``) that the scheduler process's deployer
(``controller.deployer``) runs, which owns the stage from then on.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import redis
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from podium.config import Settings
from podium.errors import BuildError, ConfigError, NoAppFile, PodiumError
from podium.keys import builds as keys
from podium.metrics.events import PhaseClock, build_finished
from podium.metrics.recorder import Recorder
from podium.names import SpaceId
from podium.spaces.stage import BuildPhase, BuildStatus, Stage

from .deploys import DeployRequests
from .lease import Lease
from .logs import BuildLog
from .placeholder import show_unrun
from .publish import publish
from .queue import CLAIM_TTL
from .records import fail_build, is_latest, is_serving, load_space

log = logging.getLogger(__name__)

def build_job(space: str, build_id: str, commit: str, factory: bool = False) -> str:
    """rq entry point. Returns the build's final status."""
    from podium.store.db import Database

    settings = Settings()
    job = get_current_job()
    conn = job.connection if job is not None else redis.Redis.from_url(settings.redis_url)
    status = run_build(
        settings, conn, Database(settings), SpaceId.parse(space), build_id, commit,
        factory=factory,
    )
    return str(status)


def run_build(
    settings: Settings, conn: redis.Redis, db: Any, space_id: SpaceId, build_id: str,
    commit: str, *, factory: bool = False, client: Any = None,
) -> BuildStatus:
    clock = PhaseClock()
    status = BuildStatus.FAILED  # unless it returns: an internal error re-raised for rq
    try:
        with Lease(conn, space_id, build_id):
            if not _claim(conn, build_id):
                status = BuildStatus.SUPERSEDED
            elif not _start(db, space_id, build_id):
                status = BuildStatus.CANCELLED
            else:
                status = _build_and_record(
                    settings, conn, db, space_id, build_id, commit, factory, client, clock)
        return status
    finally:
        Recorder(conn).send(build_finished(status, clock))


def _claim(conn: redis.Redis, build_id: str) -> bool:
    """Win the race against a newer push superseding this build before it starts."""
    if conn.set(keys.claim(build_id), "started", nx=True, ex=CLAIM_TTL):
        return True
    holder = conn.get(keys.claim(build_id))
    return holder not in (b"superseded", "superseded")


def _start(db: Any, space_id: SpaceId, build_id: str) -> bool:
    from podium.store import builds as store_builds

    with db.session() as session:
        build = store_builds.find_build(session, build_id)
        if build is None or BuildStatus(build.status).is_final:
            return False
        store_builds.mark_started(session, build)
    return True


# What a build's user is told when it ends in one of these (first match wins); anything
# else that is not a PodiumError is a bug, re-raised for rq's traceback.
_USER_FAILURES: tuple[tuple[type[Exception], Stage], ...] = (
    (NoAppFile, Stage.NO_APP_FILE), (ConfigError, Stage.CONFIG_ERROR),
    (BuildError, Stage.BUILD_ERROR),
)


def _failure(settings: Settings, exc: Exception) -> tuple[str, Stage] | None:
    """The reason and idle stage a build ending in ``exc`` records; None: not expected."""
    for kind, stage in _USER_FAILURES:
        if isinstance(exc, kind):
            return _user_message(exc), stage
    if isinstance(exc, JobTimeoutException):
        return f"the build took longer than {settings.build_timeout} s", Stage.BUILD_ERROR
    if isinstance(exc, PodiumError):  # engine or git unavailable: not the user's fault
        return f"internal error: {_user_message(exc)}", Stage.BUILD_ERROR
    return None


def _build_and_record(
    settings: Settings, conn: redis.Redis, db: Any, space_id: SpaceId, build_id: str,
    commit: str, factory: bool, client: Any, clock: PhaseClock,
) -> BuildStatus:
    from podium.builder.engine import docker_client

    blog = BuildLog(conn, build_id)
    write = clock.wrap(blog.write)  # each phase timed from its log lines (metrics)
    failure: tuple[str, Stage] | None = None
    try:
        engine = client or docker_client()
        built, sha = _make_image(settings, conn, space_id, commit, factory, engine, write)
        built = publish(settings, engine, built, blog.write)  # to the registry, if any
    except Exception as exc:
        failure = _failure(settings, exc)
        if failure is None:
            clock.stop()
            # Recorded for the user, then re-raised so rq keeps the traceback for operators.
            reason = f"internal error: {type(exc).__name__}: {exc}"
            blog.write(BuildPhase.EXPORT, reason)
            fail_build(db, conn, space_id, build_id, reason, log=blog.text)
            raise
    clock.stop()  # the build's phases end with the image (or its failure)
    if failure is not None:
        reason, idle_stage = failure
        blog.write(BuildPhase.EXPORT, f"Build failed: {reason}")
        fail_build(db, conn, space_id, build_id, reason, log=blog.text, idle_stage=idle_stage)
        return BuildStatus.FAILED

    # The deploy request first, then the success it waits for: a worker dying in between
    # leaves a request for a build the reaper then fails (the deployer drops it), never a
    # succeeded build without a request (a Space stuck starting).
    not_deployed = _hand_over(settings, conn, db, space_id, build_id, built, sha)
    if not _record_success(db, space_id, build_id, built.ref, blog.text):
        blog.failed(BuildStatus.FAILED, "the build was given up while running")
        return BuildStatus.FAILED
    if not_deployed is None:
        DeployRequests(conn).nudge()  # the scheduler starts it now, not at its next pass
    else:
        blog.failed(BuildStatus.SUCCEEDED, not_deployed)
    # Else the stream goes on: the deployer writes ``launching`` and ends it (ready/failed).
    _prune(settings, db, engine, space_id)
    return BuildStatus.SUCCEEDED


def _make_image(
    settings: Settings, conn: redis.Redis, space_id: SpaceId, commit: str, factory: bool,
    engine: Any, write: Any,
) -> tuple[Any, str]:
    """The commit exported and built into an image on this worker's engine, and its sha."""
    from podium.bridges import ensure_isolated_network, platform_addresses
    from podium.builder.base_image import pull_base_image
    from podium.builder.build import build_space_image

    from .source import export_source

    with tempfile.TemporaryDirectory(prefix="podium-build-") as tmp:
        source, sha = export_source(settings, conn, space_id, commit, Path(tmp), write)
        # RUN steps go on a bridge the host firewall covers (as running Spaces do): made
        # here, before every build, so a flushed rule set fails closed. On another host
        # than the platform's, they may not open connections to its services either
        # (Redis, the database, the registry, the git server).
        ensure_isolated_network(engine, settings.build_network,
                                walled=platform_addresses(settings))
        pull_base_image(settings, engine, lambda line: write(BuildPhase.CLONE, line))
        built = build_space_image(settings, engine, space_id, source, sha, write,
                                  no_cache=factory)
        return built, sha


def _prune(settings: Settings, db: Any, client: Any, space_id: SpaceId) -> None:
    """Older images of the Space go once a new one exists; a failure here is the
    operator's to see, never the build's."""
    from .retention import prune_after_build

    try:
        prune_after_build(settings, db, client, space_id)
    except Exception:
        log.exception("removing old images of %s failed", space_id)


def _user_message(exc: PodiumError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


def _record_success(db: Any, space_id: SpaceId, build_id: str, image: str, text: str) -> bool:
    from podium.store import builds as store_builds

    with db.session() as session:
        build = store_builds.find_build(session, build_id)
        if build is None or BuildStatus(build.status).is_final:
            return False  # the reaper gave it up (lease lost): keep its verdict
        store_builds.mark_finished(session, build, BuildStatus.SUCCEEDED, image=image, log=text)
    return True


def _hand_over(
    settings: Settings, conn: redis.Redis, db: Any, space_id: SpaceId, build_id: str,
    built: Any, commit: str,
) -> str | None:
    """Leave a deploy request for the scheduler process, showing the Space as starting.
    Returns None when it did, else why nothing will start this build."""
    from podium.store import builds as store_builds
    from podium.store import spaces as store_spaces

    # Under the lock a newer build is created with: while it is held the latest build cannot
    # change, so an older build finishing late never overwrites a newer one's request.
    with conn.lock(keys.space_lock(space_id), timeout=60, blocking_timeout=60):
        with db.session() as session:
            space = load_space(session, space_id)
            if not is_latest(session, space, build_id):
                log.info("build %s of %s is not the latest: not deploying", build_id, space_id)
                return "a newer build replaced it before it started"
            build = store_builds.find_build(session, build_id)
            if build is None or BuildStatus(build.status).is_final:
                return "the build was given up"  # by the reaper: its verdict and stage stand
            serving = is_serving(space)
            if space.paused:
                stage = Stage.PAUSED
                message = f"built {commit[:12]}; resume to run it"
            else:
                # Set before the request exists, so the deployer's own stages come after.
                stage = Stage.RUNNING_APP_STARTING if serving else Stage.APP_STARTING
                message = f"built {commit[:12]}; waiting for the scheduler to start it"
            store_spaces.set_stage(session, space, stage, message)
            if space.paused:
                show_unrun(conn, space, Stage.PAUSED)  # a first build of a paused Space
        DeployRequests(conn).put(
            space_id.key, build_id, built.ref, built.app_port, str(built.sdk), commit
        )
    return None
