"""Spaces-compatible runtime routes: state, restart (factory rebuild), pause, resume, sleep
time, and the running container's log as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anyio
from fastapi import APIRouter, BackgroundTasks
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool

from podium.builds.logs import now_iso
from podium.controller import lifecycle
from podium.controller import runtime as control
from podium.controller.platform import Platform
from podium.errors import NotFound
from podium.spaces.stage import Stage
from podium.store import get_space, latest_build
from podium.store.models import Space

from .deps import PlatformDep, ReadableSpace, WritableSpace
from .schemas import BuildOut, Domain, Hardware, Runtime, SleepTimeIn

router = APIRouter(prefix="/api/spaces/{owner}/{name}", tags=["runtime"])


def runtime_of(platform: Platform, space: Space) -> Runtime:
    settings = platform.settings
    with platform.db.session() as session:
        build = latest_build(session, get_space(session, space.space_id))
    stage = Stage(space.stage)
    return Runtime(
        stage=stage,
        hardware=Hardware(),
        gcTimeout=space.sleep_time if space.sleep_time is not None else settings.sleep_time,
        errorMessage=space.error_detail or (space.stage_message if stage.is_error else None),
        sha=space.deployed_commit,
        domains=[Domain(domain=space.space_id.hostname(settings.domain),
                        stage="READY" if stage.is_serving else "PENDING")],
        build=BuildOut.of(build) if build is not None else None,
    )


def _answer(platform: Platform, outcome: control.Outcome, tasks: BackgroundTasks) -> Runtime:
    if outcome.background is not None:
        tasks.add_task(outcome.background)
    return runtime_of(platform, outcome.space)


@router.get("/runtime")
def runtime(space: ReadableSpace, platform: PlatformDep) -> Runtime:
    return runtime_of(platform, space)


@router.post("/restart")
def restart(
    space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks, factory: bool = False,
) -> Runtime:
    """Restart with current secrets and variables; ``factory=true`` rebuilds without cache.
    A paused Space is resumed."""
    return _answer(platform, control.restart(platform, space.space_id, factory=factory), tasks)


@router.post("/pause")
def pause(space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks) -> Runtime:
    return _answer(platform, control.pause(platform, space.space_id), tasks)


@router.post("/resume")
def resume(space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks) -> Runtime:
    return _answer(platform, control.resume(platform, space.space_id), tasks)


@router.post("/sleeptime")
def sleeptime(
    body: SleepTimeIn, space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks,
) -> Runtime:
    """Seconds without traffic before the Space sleeps (0 = never)."""
    outcome = lifecycle.change_settings(platform, space.space_id, sleep_time=body.seconds)
    return _answer(platform, outcome, tasks)


@router.get("/logs/run")
async def run_logs(
    space: ReadableSpace, platform: PlatformDep, follow: bool = True,
) -> EventSourceResponse:
    """The container's output: ``data: {"data": line, "timestamp": iso}`` per line."""
    key = space.space_id.key
    instance = await anyio.to_thread.run_sync(platform.scheduler.current, key)
    if instance is None:
        raise NotFound(f"Space {space.space_id} has no container",
                       hint="it runs once a build succeeds; see logs/build")
    lines: Iterator[str] = await anyio.to_thread.run_sync(
        lambda: platform.scheduler.stream_logs(key, follow=follow)
    )

    async def events() -> AsyncIterator[dict[str, str]]:
        async for line in iterate_in_threadpool(lines):
            yield {"data": json.dumps({"data": line, "timestamp": now_iso()})}

    return EventSourceResponse(events(), ping=15)
