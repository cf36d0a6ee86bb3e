"""The API process assembled: FastAPI (JSON API + dashboard pages) with the git server in
front of it for git's smart-HTTP paths. ``create_app(settings)`` builds it; uvicorn runs it.

This module sits above the edges it mounts (podium.api, podium.dashboard, podium.gitserver),
so none of them imports another's assembly: the dashboard uses the API's request
dependencies, and nothing in the API imports the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import redis.asyncio
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from podium import __version__
from podium.api import (
    analytics,
    disk,
    files,
    hub,
    hub_commits,
    hub_files,
    likes,
    runtime,
    secrets,
    shares,
    spaces,
    templates,
    tokens,
    users,
)
from podium.api.deps import optional_principal, readable_space
from podium.api.errors import install_error_handlers
from podium.api.origin import refuse_cross_origin_changes
from podium.api.sessions import SessionStore
from podium.builds.routes import build_logs_router
from podium.config import Settings
from podium.controller import imports
from podium.controller.access import Principal, StoreGitAccess
from podium.controller.platform import Platform
from podium.dashboard import dashboard_router
from podium.gitserver.app import create_git_app
from podium.gitserver.paths import is_git_path
from podium.gitserver.relay import HOOK_PATH
from podium.gitserver.tickets import FetchTickets, TicketAccess
from podium.names import SpaceId
from podium.store import ensure_admin
from podium.throttle import PasswordThrottle


class GitDispatch:
    """Sends git's smart-HTTP requests to the git server, everything else to the API."""

    def __init__(self, api: ASGIApp, git: ASGIApp) -> None:
        self.api = api
        self.git = git

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        # HOOK_PATH: a push's post-receive, handed back by its hook process (relay.py).
        target = self.git if path and (is_git_path(path) or path == HOOK_PATH) else self.api
        await target(scope, receive, send)


def create_api(settings: Settings, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform.db.migrate()
        with platform.db.session() as session:
            ensure_admin(session, settings)
        imports.fail_interrupted(platform)
        try:
            yield
        finally:
            platform.stop_imports()
            await app.state.aredis.aclose()

    app = FastAPI(
        title="Podium", version=__version__, lifespan=lifespan,
        description="Self-hosted Spaces: git push an ML demo, get a live URL.",
        # Before any route: a change another origin (a Space) asks for is refused (CSRF).
        dependencies=[Depends(refuse_cross_origin_changes)],
    )
    app.state.platform = platform
    app.state.settings = settings
    app.state.sessions = SessionStore(platform.redis, settings.session_ttl)
    app.state.throttle = PasswordThrottle(settings)
    # Created lazily-connecting: the first use opens connections on the serving loop.
    app.state.aredis = redis.asyncio.Redis.from_url(settings.redis_url)
    install_error_handlers(app)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    include_routers(app, settings, platform, app.state.aredis)
    return app


def include_routers(
    app: FastAPI, settings: Settings, platform: Platform, aredis: redis.asyncio.Redis
) -> None:
    """Every router the process serves, in one list: the JSON API, then the dashboard."""
    def can_read_space(
        owner: str, name: str,
        principal: Annotated[Principal | None, Depends(optional_principal)],
    ) -> None:
        readable_space(platform, principal, SpaceId(owner, name))

    app.include_router(
        build_logs_router(settings, aredis, platform.db, dependencies=[can_read_space]),
        tags=["logs"],
    )
    for module in (users, tokens, hub, spaces, runtime, secrets, shares, files, templates,
                   hub_files, hub_commits, likes, analytics, disk):
        app.include_router(module.router)
    app.include_router(hub_files.downloads)
    app.include_router(dashboard_router(settings, platform))  # HTML pages; keep last


def create_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or Settings()
    platform = Platform(settings)
    api = create_api(settings, platform)
    # Tokens, and the one-build read tickets of workers on other hosts (builds/source.py).
    access = TicketAccess(StoreGitAccess(platform.db), FetchTickets(platform.redis))
    git = create_git_app(settings, access, api.state.throttle)
    dispatch = GitDispatch(api, git)
    # uvicorn drives lifespan through the outer app; hand it to FastAPI.
    return _WithLifespan(dispatch, api)


class _WithLifespan:
    def __init__(self, app: ASGIApp, lifespan_owner: ASGIApp) -> None:
        self.app = app
        self.lifespan_owner = lifespan_owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan_owner(scope, receive, send)
        else:
            await self.app(scope, receive, send)
