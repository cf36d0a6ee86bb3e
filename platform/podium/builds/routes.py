"""``GET /api/spaces/{owner}/{name}/logs/build``: a build's log as Server-Sent Events, in
Spaces' shape (see ``logs.sse_build_events``). ``?build=<id>`` picks a build other than the
latest. The lead mounts it with ``app.include_router(build_logs_router(...))``; access
control for private Spaces belongs to the including app (a dependency on the router)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import redis.asyncio
from fastapi import APIRouter, Depends
from sse_starlette.sse import EventSourceResponse

from podium.config import Settings
from podium.errors import NotFound
from podium.names import SpaceId

from .logs import _find_build, sse_build_events


def build_logs_router(
    settings: Settings, redis_conn: redis.asyncio.Redis, db: Any,
    dependencies: Sequence[Any] = (),
) -> APIRouter:
    router = APIRouter(dependencies=[Depends(d) for d in dependencies])

    @router.get("/api/spaces/{owner}/{name}/logs/build")
    async def build_logs(owner: str, name: str, build: str | None = None) -> EventSourceResponse:
        space_id = SpaceId(owner, name)
        # Checked before streaming so a missing build is a 404, not an error mid-stream.
        found = await anyio.to_thread.run_sync(_find_build, db, space_id, build)
        if found is None:
            raise NotFound(f"Space {space_id} has no build" + (f" {build}" if build else ""))
        return EventSourceResponse(
            sse_build_events(settings, redis_conn, db, space_id, str(found.id)), ping=15
        )

    return router
