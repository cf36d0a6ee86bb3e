"""The build job: export the commit, build the image with live logs, record the result and
hand the image to deployment.

``build_job`` is what rq runs (dotted path ``podium.builds.job.build_job``); it rebuilds
``Settings()`` from the PODIUM_* environment the worker passes down. ``run_build`` is the
same work with everything passed in.

Deployment is pluggable: ``settings.deploy_handler`` ("module:function") is called as
``deploy(settings, space_id, build_id, image_ref, app_port, sdk, commit)`` for the Space's
latest build only, and owns the stage from then on (APP_STARTING, RUNNING...). With no
handler the build just ends: the Space goes back to RUNNING when a version is serving, else
to STOPPED (built, nothing started it).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from podium.config import Settings
from podium.errors import BuildError, ConfigError, NoAppFile, PodiumError
from podium.names import SpaceId
from podium.plugins import load_callable
from podium.spaces.stage import BuildPhase, BuildStatus, Stage

from . import keys
from .lease import Lease
from .logs import BuildLog
from .queue import CLAIM_TTL
from .records import fail_build, is_latest, is_serving, load_space

log = logging.getLogger(__name__)

DeployHandler = Callable[[Settings, SpaceId, str, str, int, str, str], None]


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
    with Lease(conn, space_id, build_id):
        if not _claim(conn, build_id):
            return BuildStatus.SUPERSEDED
        if not _start(db, space_id, build_id):
            return BuildStatus.CANCELLED
        return _build_and_record(settings, conn, db, space_id, build_id, commit, factory, client)


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


def _build_and_record(
    settings: Settings, conn: redis.Redis, db: Any, space_id: SpaceId, build_id: str,
    commit: str, factory: bool, client: Any,
) -> BuildStatus:
    from podium.builder.build import build_space_image
    from podium.builder.engine import docker_client
    from podium.gitserver.repo import export_commit

    blog = BuildLog(conn, build_id)
    failure: tuple[str, Stage] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="podium-build-") as tmp:
            source = Path(tmp) / "src"
            blog.write(BuildPhase.CLONE, f"Exporting {space_id} at commit {commit[:12]}")
            sha = export_commit(settings, space_id, commit, source)
            built = build_space_image(
                settings, client or docker_client(), space_id, source, sha, blog.write,
                no_cache=factory,
            )
    except NoAppFile as exc:
        failure = (_user_message(exc), Stage.NO_APP_FILE)
    except ConfigError as exc:
        failure = (_user_message(exc), Stage.CONFIG_ERROR)
    except BuildError as exc:
        failure = (_user_message(exc), Stage.BUILD_ERROR)
    except JobTimeoutException:
        failure = (f"the build took longer than {settings.build_timeout} s", Stage.BUILD_ERROR)
    except PodiumError as exc:  # engine or git unavailable: not the user's fault
        failure = (f"internal error: {_user_message(exc)}", Stage.BUILD_ERROR)
    except Exception as exc:
        # Recorded for the user, then re-raised so rq keeps the traceback for operators.
        reason = f"internal error: {type(exc).__name__}: {exc}"
        blog.write(BuildPhase.EXPORT, reason)
        fail_build(db, conn, space_id, build_id, reason, log=blog.text)
        raise
    if failure is not None:
        reason, idle_stage = failure
        blog.write(BuildPhase.EXPORT, f"Build failed: {reason}")
        fail_build(db, conn, space_id, build_id, reason, log=blog.text, idle_stage=idle_stage)
        return BuildStatus.FAILED

    if not _record_success(db, space_id, build_id, built.ref, blog.text):
        blog.finish(BuildStatus.FAILED, "the build was given up while running")
        return BuildStatus.FAILED
    blog.finish(BuildStatus.SUCCEEDED)
    _deploy(settings, conn, db, space_id, build_id, built, sha)
    return BuildStatus.SUCCEEDED


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


def _deploy(
    settings: Settings, conn: redis.Redis, db: Any, space_id: SpaceId, build_id: str,
    built: Any, commit: str,
) -> None:
    from podium.store import spaces as store_spaces

    # One deploy per Space at a time, and only of its latest build: an older build that
    # finishes after a newer one was pushed must not replace what the newer one deploys.
    lock_timeout = settings.startup_timeout + 120
    with conn.lock(keys.deploy_lock(space_id), timeout=lock_timeout, blocking_timeout=None):
        with db.session() as session:
            space = load_space(session, space_id)
            latest = is_latest(session, space, build_id)
            serving = is_serving(space)
            if not latest:
                log.info("build %s of %s is not the latest: not deploying", build_id, space_id)
            elif not settings.deploy_handler:
                stage, message = (
                    (Stage.RUNNING, "new image built; no deploy handler configured")
                    if serving else (Stage.STOPPED, "image built; no deploy handler configured")
                )
                store_spaces.set_stage(session, space, stage, message)
        if not latest or not settings.deploy_handler:
            return
        try:
            handler = load_deploy_handler(settings.deploy_handler)
            handler(
                settings, space_id, build_id, built.ref, built.app_port, str(built.sdk), commit
            )
        except Exception as exc:
            log.exception("deploy handler failed for %s build %s", space_id, build_id)
            with db.session() as session:
                space = load_space(session, space_id)
                stage = Stage.RUNNING if is_serving(space) else Stage.RUNTIME_ERROR
                store_spaces.set_stage(session, space, stage, f"deploy failed: {exc}")


def load_deploy_handler(dotted: str) -> DeployHandler:
    return load_callable(dotted, "deploy_handler")
