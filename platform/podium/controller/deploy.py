"""Deploying a built image: gather what the Space's container needs from the store and the
README at that commit, hand it to the scheduler, and record the result. Called by the
deployer (``controller.deployer``) in the scheduler process, with that process's one
``Platform``, for a Space's latest successful build; the build job only leaves the request."""

from __future__ import annotations

import logging

from podium.builds.deploys import DeployRequest
from podium.builds.logs import BuildLog
from podium.errors import SpaceRuntimeError, StartCancelled
from podium.names import SpaceId
from podium.scheduler.spec import RunSpec
from podium.spaces.stage import BuildPhase, BuildStatus, Stage
from podium.store import (
    find_space,
    get_space,
    list_variables,
    secret_values,
    set_stage,
    update_space,
)

from .devmode import adopt, dev_variables
from .metadata import config_at
from .platform import Platform

log = logging.getLogger(__name__)


def run_spec(
    platform: Platform, space_id: SpaceId, image_ref: str, app_port: int, sdk: str,
    commit: str,
) -> RunSpec:
    settings = platform.settings
    config = config_at(settings, space_id, commit)
    startup = settings.startup_timeout_for(config.requested_startup_timeout)
    with platform.db.session() as session:
        space = get_space(session, space_id)
        variables = {v.key: v.value for v in list_variables(session, space)}
        variables |= dev_variables(space, sdk, config.app_file)  # the reloader, in dev mode
        secrets = secret_values(session, platform.cipher, space)
        overrides = {
            "startup_timeout": float(startup),
            "sleep_time": space.sleep_time if space.sleep_time is not None
            else settings.sleep_time,
            "private": bool(space.private),
            "disable_embedding": config.disable_embedding,
            "custom_headers": dict(config.custom_headers),
        }
        if space.cpu_limit:
            overrides["cpus"] = float(space.cpu_limit)
        if space.memory_limit:
            overrides["memory"] = str(space.memory_limit)
        title = space.title or space_id.name
    return RunSpec.for_space(
        settings, space_id, image_ref, app_port=app_port, sdk=sdk, commit=commit,
        title=title, variables=variables, secrets=secrets, **overrides,
    )


def deploy(platform: Platform, request: DeployRequest) -> None:
    """Start the request's image and follow it in the build's log stream: ``launching``
    lines, then ``ready`` once the app answers through the proxy, or ``failed`` with why."""
    space_id = SpaceId.parse(request.space)
    image_ref, commit = request.image, request.commit
    blog = BuildLog(platform.redis, request.build_id)
    if _keep_for_resume(platform, space_id, image_ref, commit):
        # Paused by its owner: start nothing.
        blog.failed(BuildStatus.SUCCEEDED, f"the Space is paused: resume it to run {commit[:12]}")
        return
    spec = run_spec(platform, space_id, image_ref, request.app_port, request.sdk, commit)
    blog.write(BuildPhase.LAUNCHING, f"Starting {commit[:12]}: waiting up to "
               f"{spec.startup_timeout:g} s for the app to answer on port {spec.app_port}")

    def on_stage(stage: object, detail: str | None) -> None:
        platform.record_stage(space_id.key, stage, detail)

    def on_switch() -> None:
        # In the step that switches the route: the runtime's sha never lags what answers.
        with platform.db.session() as session:
            space = get_space(session, space_id)
            update_space(session, space, deployed_commit=commit, deployed_image=image_ref)

    def on_ready() -> None:
        blog.write(BuildPhase.LAUNCHING, f"The app answers: {commit[:12]} is live")
        blog.ready()

    if adopt(platform, space_id, spec):
        # Dev mode: the running container already serves this commit (its push was synced).
        blog.write(BuildPhase.LAUNCHING, f"Dev mode: {commit[:12]} already runs in the "
                   "container; its image is kept for restarts")
        on_switch()
        on_stage(Stage.RUNNING, None)
        on_ready()
        return
    try:
        platform.scheduler.deploy(spec, on_stage, on_switch=on_switch, on_ready=on_ready,
                                  on_path=lambda line: blog.write(BuildPhase.LAUNCHING, line))
    except StartCancelled as exc:
        # Deleted, paused or pushed to while it started: whoever cancelled records the
        # stage; a paused Space keeps this version for its resume.
        log.info("deploy of %s@%s cancelled", space_id, commit[:12])
        _keep_for_resume(platform, space_id, image_ref, commit)
        blog.failed(BuildStatus.SUCCEEDED, f"the start was cancelled: {exc.message}")
    except SpaceRuntimeError as exc:
        # The scheduler already recorded RUNTIME_ERROR (or RUNNING, when the previous
        # version kept serving) with the exit code and last lines; the build itself
        # succeeded, so this is not the build job's failure.
        log.warning("deploy of %s@%s failed: %s", space_id, commit[:12], exc.message)
        for line in exc.last_lines or ():
            blog.write(BuildPhase.LAUNCHING, line)
        blog.failed(BuildStatus.SUCCEEDED, exc.message)


def _keep_for_resume(platform: Platform, space_id: SpaceId, image_ref: str, commit: str) -> bool:
    """A paused Space keeps the new version for its resume. Returns whether it is paused."""
    with platform.db.session() as session:
        space = find_space(session, space_id)
        if space is None or not space.paused:
            return False
        update_space(session, space, deployed_commit=commit, deployed_image=image_ref)
        set_stage(session, space, Stage.PAUSED, f"built {commit[:12]}; resume to run it")
        return True
