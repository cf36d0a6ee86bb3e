"""Steering what runs: restart (or factory rebuild), pause, resume, and the restart a changed
secret or variable needs. Anything that waits for a container to become healthy is handed
back as ``Outcome.background`` so an API request answers at once and the work continues
after the response (FastAPI BackgroundTasks)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from podium.builds.placeholder import show_unrun
from podium.builds.queue import enqueue_build
from podium.builds.records import building_stage
from podium.errors import BadRequest, PodiumError
from podium.gitserver.repo import head_commit
from podium.names import SpaceId
from podium.scheduler.records import SpaceRecords
from podium.spaces.stage import Stage
from podium.store import get_space, set_stage, update_space
from podium.store.models import Space

from .deploy import run_spec
from .metadata import config_at
from .platform import Platform

log = logging.getLogger(__name__)

# Stages in which a deployed version exists and should pick up new settings, secrets or
# variables by restarting. A crashed Space is included: adding the missing secret is the
# usual fix. A sleeping one too: waking would otherwise thaw the container with the old
# environment.
LIVE_STAGES = frozenset({
    Stage.RUNNING, Stage.RUNNING_BUILDING, Stage.RUNNING_APP_STARTING, Stage.APP_STARTING,
    Stage.SLEEPING, Stage.RUNTIME_ERROR,
})


@dataclass(frozen=True, slots=True)
class Outcome:
    space: Space
    # Work to run after answering (a redeploy waiting for health), or None.
    background: Callable[[], None] | None = None


def is_live(space: Space) -> bool:
    return bool(space.deployed_image) and not space.paused and Stage(space.stage) in LIVE_STAGES


def redeploy(platform: Platform, space_id: SpaceId) -> None:
    """Start the deployed image again with a spec rebuilt from the store (current variables,
    secrets, limits, privacy), blue/green. The scheduler reports stages to the store."""
    with platform.db.session() as session:
        space = get_space(session, space_id)
        image, commit, sdk = space.deployed_image, space.deployed_commit, str(space.sdk)
    if not image or not commit:
        return
    record = SpaceRecords(platform.redis).get(space_id.key)
    if record is not None and record.spec.image == image:
        app_port, sdk = record.spec.app_port, record.spec.sdk
    else:
        app_port = config_at(platform.settings, space_id, commit).app_port
    platform.scheduler.deploy(run_spec(platform, space_id, image, app_port, sdk, commit))


def redeploy_later(platform: Platform, space_id: SpaceId) -> Callable[[], None]:
    def run() -> None:
        try:
            redeploy(platform, space_id)
        except PodiumError as exc:  # already recorded as the Space's stage by the scheduler
            log.warning("restart of %s failed: %s", space_id, exc.message)
        except Exception:
            log.exception("restart of %s failed", space_id)

    return run


def apply_to_runtime(platform: Platform, space_id: SpaceId) -> None:
    """Copy privacy, sleep time and limits from the store into the scheduler's record and
    the route, so the proxy enforces a new privacy at once and a wake uses the new values."""
    settings = platform.settings
    with platform.db.session() as session:
        space = get_space(session, space_id)
        private = bool(space.private)
        sleep_time = space.sleep_time if space.sleep_time is not None else settings.sleep_time
        cpus = float(space.cpu_limit) if space.cpu_limit else settings.space_cpus
        memory = str(space.memory_limit) if space.memory_limit else settings.space_memory
    records = SpaceRecords(platform.redis)
    record = records.get(space_id.key)
    if record is not None:
        spec = replace(record.spec, private=private, sleep_time=sleep_time, cpus=cpus,
                       memory=memory)
        records.save(replace(record, spec=spec))
    route = platform.routes.get(space_id.key)
    if route is not None and route.private != private:
        platform.routes.put(replace(route, private=private))
        if private:
            # Closed when the call returns: no proxy still serves it as public.
            platform.routes.settle()


def _mark_starting(platform: Platform, space_id: SpaceId) -> Space:
    with platform.db.session() as session:
        space = get_space(session, space_id)
        update_space(session, space, paused=False)
        serving = Stage(space.stage).is_serving
        set_stage(session, space, Stage.RUNNING_APP_STARTING if serving else Stage.APP_STARTING,
                  "restarting")
        return space


def _build_head(platform: Platform, space_id: SpaceId, *, factory: bool) -> Space:
    with platform.db.session() as session:
        space = get_space(session, space_id)
        commit = space.head_commit
        update_space(session, space, paused=False)
    commit = commit or head_commit(platform.settings, space_id)
    if commit is None:
        raise BadRequest(f"{space_id} has no code to build yet",
                         hint="push a commit to its git remote first")
    ref = enqueue_build(platform.settings, platform.redis, platform.db, space_id, commit,
                        factory=factory)
    with platform.db.session() as session:
        space = get_space(session, space_id)
        if ref.attached:  # joined a pending build: the queue left the stage (e.g. PAUSED)
            set_stage(session, space, building_stage(space),
                      f"build of {commit[:12]} in progress")
        return space


def rebuild(platform: Platform, space_id: SpaceId) -> Space:
    """Build the head commit again and deploy it (blue/green): what a settings change that
    shapes the container (dev mode) needs."""
    return _build_head(platform, space_id, factory=False)


def restart(platform: Platform, space_id: SpaceId, *, factory: bool = False) -> Outcome:
    """Restart the deployed version (fresh container, current secrets and variables); with
    ``factory``, or when nothing was deployed yet, rebuild the head commit (factory: without
    the layer cache). Also resumes a paused Space, as on Spaces."""
    with platform.db.session() as session:
        deployed = bool(get_space(session, space_id).deployed_image)
    if factory or not deployed:
        return Outcome(_build_head(platform, space_id, factory=factory))
    space = _mark_starting(platform, space_id)
    return Outcome(space, redeploy_later(platform, space_id))


def resume(platform: Platform, space_id: SpaceId) -> Outcome:
    with platform.db.session() as session:
        space = get_space(session, space_id)
        if not space.paused and Stage(space.stage) != Stage.PAUSED:
            return Outcome(space)  # nothing to resume: not an error, as on Spaces
    return restart(platform, space_id)


def cancel_pending_start(platform: Platform, space_id: SpaceId, show: Stage) -> bool:
    """Give up a start of the Space still waiting for its app (delete, pause, a new push):
    its container goes at once and its deploy or wake lets go within a poll, instead of
    holding the Space up to its startup timeout. Returns whether one was pending."""
    if not SpaceRecords(platform.redis).start_pending(space_id.key):
        return False  # nothing started: no need to reach the engine
    return platform.scheduler.cancel_start(space_id.key, show)


def pause(platform: Platform, space_id: SpaceId) -> Outcome:
    """Stop the Space until resumed; requests do not wake it."""
    with platform.db.session() as session:
        update_space(session, get_space(session, space_id), paused=True)
    cancel_pending_start(platform, space_id, Stage.PAUSED)
    if SpaceRecords(platform.redis).get(space_id.key) is not None:
        platform.scheduler.pause(space_id.key)  # it records PAUSED through the controller
    with platform.db.session() as session:
        space = get_space(session, space_id)
        if Stage(space.stage) != Stage.PAUSED:
            set_stage(session, space, Stage.PAUSED)
        show_unrun(platform.redis, space, Stage.PAUSED)  # one that never ran has no route
        return Outcome(space)


def env_changed(platform: Platform, space_id: SpaceId) -> Outcome:
    """After a secret or variable changed: restart the Space if a version of it is live."""
    with platform.db.session() as session:
        space = get_space(session, space_id)
        live = is_live(space)
    if not live:
        return Outcome(space)
    return Outcome(_mark_starting(platform, space_id), redeploy_later(platform, space_id))
