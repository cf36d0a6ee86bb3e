"""The dashboard's pages: server-rendered reads through the store, nothing else.

Every action on a page (sign in, create, settings, secrets, share links, restart...) is a
small script calling the JSON API with the session cookie, so no rule lives twice. Its
``/{owner}`` paths only match names that can be users (``OwnerConvertor``), so they never
shadow /api, /static or /spaces routes, whatever order routers are included in.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.convertors import StringConvertor, register_url_convertor

from podium.config import Settings
from podium.controller.access import Principal, visible_spaces
from podium.controller.analytics import may_see_visits, owner_visits
from podium.controller.diskuse import human_bytes, platform_disk
from podium.controller.platform import Platform
from podium.errors import NotFound
from podium.names import RESERVED_OWNERS, validate_owner
from podium.redirects import safe_next
from podium.spaces.stage import Sdk, Stage
from podium.store import find_user, get_user, list_tokens

from . import views
from .charts import VisitChart
from .pages import Pages, login_redirect
from .space_routes import add_space_pages
from .viewer import Viewer


class OwnerConvertor(StringConvertor):
    """A path segment that can be a user name: reserved words (api, static, login, new...)
    never match, so ``/{owner}/{name}`` cannot shadow an API route, whatever the order in
    which routers were included."""

    reserved = "|".join(sorted(re.escape(word) for word in RESERVED_OWNERS))
    regex = (
        f"(?!(?i:{reserved})(?![A-Za-z0-9-]))"
        r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
    )


def dashboard_router(settings: Settings, platform: Platform) -> APIRouter:
    """The dashboard's pages: the site's (gallery, login, new, tokens, profiles) and each
    Space's tabs (podium.dashboard.space_routes)."""
    register_url_convertor("owner", OwnerConvertor())
    pages = Pages(settings)
    router = APIRouter(route_class=pages.route_class(), include_in_schema=False)
    # Fixed paths before /{owner}: the convertor already refuses reserved words, this order
    # keeps them first anyway.
    _add_account(router, pages, platform)
    _add_gallery(router, pages, platform)
    add_space_pages(router, pages, platform)
    return router


def gallery_page(
    settings: Settings, platform: Platform, viewer: Principal | None, *, owner: str | None,
    search: str, sdk: str, stage: str, page: int,
) -> tuple[list[views.Card], views.Pager]:
    pager_page = views.Pager.clamp(page)
    with platform.db.session() as session:
        spaces, total = visible_spaces(
            session, viewer, owner=owner, sdk=Sdk(sdk) if sdk else None,
            stage=Stage(stage) if stage else None, search=search or None,
            offset=(pager_page - 1) * views.PAGE_SIZE, limit=views.PAGE_SIZE,
        )
    cards = [views.Card.of(settings, space) for space in spaces]
    return cards, views.Pager(pager_page, total)


def _choice(value: str, allowed: type[Sdk] | type[Stage]) -> str:
    return value if value in {m.value for m in allowed} else ""


def _add_gallery(router: APIRouter, pages: Pages, platform: Platform) -> None:
    """The public lists: the gallery and a user's profile."""
    settings = pages.settings

    @router.get("/")
    def gallery(
        viewer: Viewer, search: str = "", sdk: str = "", stage: str = "",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        sdk, stage, search = _choice(sdk, Sdk), _choice(stage, Stage), search.strip()[:200]
        cards, pager = gallery_page(
            settings, platform, viewer, owner=None, search=search, sdk=sdk, stage=stage,
            page=page)
        params: dict[str, Any] = {"search": search, "sdk": sdk, "stage": stage, "page": page}
        return pages.render(
            "gallery.html", viewer=viewer, cards=cards, pager=pager, params=params,
            qs=views.query_string, sdks=views.SDK_LABELS, stages=views.STAGE_LABELS,
        )

    @router.get("/{owner:owner}")
    def profile(
        owner: str, viewer: Viewer, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        validate_owner(owner)
        with platform.db.session() as session:
            user = find_user(session, owner)
        cards, pager = gallery_page(
            settings, platform, viewer, owner=owner, search="", sdk="", stage="", page=page)
        if user is None and not pager.total:
            raise NotFound(f"no user or organisation named {owner!r}")
        name = user.username if user else owner
        chart = (VisitChart.of(owner_visits(platform, viewer, name))
                 if may_see_visits(viewer, name) else None)
        return pages.render(
            "profile.html", viewer=viewer, owner=name,
            cards=cards, pager=pager, params={"page": page}, qs=views.query_string,
            is_self=bool(viewer and viewer.username.lower() == owner.lower()),
            visit_chart=chart,
        )


def _add_account(router: APIRouter, pages: Pages, platform: Platform) -> None:
    """Signing in, starting a Space, tokens, and the dashboard's own static files."""
    settings = pages.settings

    @router.get("/login")
    def login(viewer: Viewer, next: str = "/") -> Response:
        target = safe_next(next)
        if viewer is not None:
            return RedirectResponse(target, status_code=303)
        return pages.render("login.html", viewer=None, next=target)

    @router.get("/new")
    def new_space(request: Request, viewer: Viewer) -> Response:
        if viewer is None:
            return login_redirect(request)
        return pages.render(
            "new.html", viewer=viewer, sdks=views.SDK_LABELS,
            templates=views.template_cards(settings),
        )

    @router.get("/settings/tokens")
    def tokens(request: Request, viewer: Viewer) -> Response:
        if viewer is None:
            return login_redirect(request)
        with platform.db.session() as session:
            rows = list_tokens(session, get_user(session, viewer.username))
        return pages.render("tokens.html", viewer=viewer, tokens=rows)

    @router.get("/settings/disk")
    def disk(request: Request, viewer: Viewer) -> Response:
        if viewer is None:
            return login_redirect(request)
        if not viewer.is_admin:
            raise NotFound("no such page")  # as a private Space: not even its existence
        report = platform_disk(platform, viewer)
        return pages.render("disk.html", viewer=viewer, report=report, size=human_bytes)

    @router.get("/static/dashboard/{filename}")
    def static(filename: str) -> Response:
        return FileResponse(
            pages.static_path(filename),
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )
