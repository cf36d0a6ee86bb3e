"""Every router the API serves, in one list, so app.py stays small."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
from fastapi import Depends, FastAPI

from podium.builds.routes import build_logs_router
from podium.config import Settings
from podium.controller.access import Principal
from podium.controller.platform import Platform
from podium.names import SpaceId

from .deps import optional_principal, readable_space


def include_all(
    app: FastAPI, settings: Settings, platform: Platform, aredis: redis.asyncio.Redis
) -> None:
    def can_read_space(
        owner: str, name: str,
        principal: Annotated[Principal | None, Depends(optional_principal)],
    ) -> None:
        readable_space(platform, principal, SpaceId(owner, name))

    app.include_router(
        build_logs_router(settings, aredis, platform.db, dependencies=[can_read_space]),
        tags=["logs"],
    )
    from . import (
        files,
        hub,
        hub_commits,
        hub_files,
        runtime,
        secrets,
        shares,
        spaces,
        templates,
        tokens,
        users,
    )

    for module in (users, tokens, hub, spaces, runtime, secrets, shares, files, templates,
                   hub_files, hub_commits):
        app.include_router(module.router)
    app.include_router(hub_files.downloads)
    from podium.dashboard import dashboard_router

    app.include_router(dashboard_router(settings, platform))  # HTML pages; keep last
