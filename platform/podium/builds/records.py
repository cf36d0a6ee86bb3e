"""Build records and the Space stage changes a build causes, in one place so the job, the
queue and the reaper move a Space through the same transitions.

Rules (Spaces' behaviour):
- a build starting shows BUILDING, or RUNNING_BUILDING while a version is serving;
- a failed build never touches what is serving: the Space goes back to RUNNING, and the
  failure stays visible as its latest build; with nothing serving it shows BUILD_ERROR
  (or CONFIG_ERROR / NO_APP_FILE for a bad README or a missing app file);
- only the Space's latest build may change its stage: an older build ending late (its
  successor is queued or running) leaves the stage to the successor.
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis

from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Stage

from .logs import write_terminal
from .placeholder import show_unrun


def is_serving(space: Any) -> bool:
    return bool(space.deployed_image) and Stage(space.stage).is_serving


def building_stage(space: Any) -> Stage:
    return Stage.RUNNING_BUILDING if is_serving(space) else Stage.BUILDING


def load_space(session: Any, space_id: SpaceId) -> Any:
    """The Space record; NotFound when it does not exist."""
    from podium.store import spaces as store_spaces

    return store_spaces.get_space(session, space_id)


def is_latest(session: Any, space: Any, build_id: str) -> bool:
    from podium.store import builds as store_builds

    latest = store_builds.latest_build(session, space)
    return latest is None or str(latest.id) == build_id


def fail_build(
    db: Any, conn: redis.Redis, space_id: SpaceId, build_id: str, reason: str, *,
    log: str | None = None, idle_stage: Stage = Stage.BUILD_ERROR,
    status: BuildStatus = BuildStatus.FAILED,
) -> bool:
    """Record a build as failed and set the Space's stage. Idempotent: returns False (and
    changes nothing) when the build had already ended, e.g. reaped and then finished."""
    from podium.store import builds as store_builds
    from podium.store import spaces as store_spaces

    with db.session() as session:
        build = store_builds.find_build(session, build_id)
        if build is None or BuildStatus(build.status).is_final:
            return False
        store_builds.mark_finished(session, build, status, failure_reason=reason, log=log)
        space = load_space(session, space_id)
        if is_latest(session, space, build_id):
            if is_serving(space):
                store_spaces.set_stage(
                    session, space, Stage.RUNNING, "the new version failed to build; the "
                    "previous one keeps serving", reason,
                )
            else:
                store_spaces.set_stage(session, space, idle_stage, reason)
                with contextlib.suppress(redis.RedisError):  # the page is a courtesy
                    show_unrun(conn, space, idle_stage)
    write_terminal(conn, build_id, status, reason)
    return True
