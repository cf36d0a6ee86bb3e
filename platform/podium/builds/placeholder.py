"""The proxy's view of a Space that has not run yet: without it, the live URL `git push`
prints answered "Space not found" (the scheduler writes a route only when it starts a
container) while the first build ran or after it failed.

A placeholder route has no upstream, so every data plane hands it to the Python proxy,
which shows the building / build failed / paused page, and to strangers of a private
Space the same "not found" as before (the route carries ``private``). It never replaces a
route the scheduler wrote (one with an upstream, or a stage of its own)."""

from __future__ import annotations

from typing import Any

import redis

from podium.proxy.routes import Route, RouteTable
from podium.spaces.stage import Stage

# The stages a placeholder shows; a route with another stage is the scheduler's.
PLACEHOLDER_STAGES = frozenset({
    Stage.BUILDING, Stage.BUILD_ERROR, Stage.CONFIG_ERROR, Stage.NO_APP_FILE, Stage.PAUSED,
})


def show_unrun(conn: redis.Redis, space: Any, stage: Stage) -> None:
    """Publish ``stage`` (PAUSED for a paused Space) for a Space no container serves."""
    routes = RouteTable(conn)
    current = routes.get(space.space_id.key)
    if current is not None and (
        current.upstream is not None or current.stage not in PLACEHOLDER_STAGES
    ):
        return
    shown = Stage.PAUSED if space.paused else stage
    routes.put(Route.for_space(
        space.space_id, upstream=None, sdk=str(space.sdk or ""), stage=shown.value,
        private=bool(space.private),
    ))
