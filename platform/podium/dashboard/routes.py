"""The dashboard's pages: server-rendered reads through the store, nothing else.

Every action on a page (sign in, create, settings, secrets, share links, restart...) is a
small script calling the JSON API with the session cookie, so no rule lives twice. Its
``/{owner}`` paths only match names that can be users (``OwnerConvertor``), so they never
shadow /api, /static or /spaces routes, whatever order routers are included in.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.convertors import StringConvertor, register_url_convertor

from podium.api.auth import principal_from_request
from podium.api.deps import PlatformDep, readable_space
from podium.config import Settings
from podium.controller.access import Principal, may_write, visible_spaces
from podium.controller.metadata import config_at
from podium.controller.platform import Platform
from podium.errors import NotFound, PodiumError
from podium.gitserver.repo import read_file, read_tree
from podium.names import RESERVED_OWNERS, SpaceId, validate_owner
from podium.redirects import safe_next
from podium.spaces.stage import BuildPhase, Sdk, Stage
from podium.store import (
    find_user,
    get_user,
    list_builds,
    list_secret_keys,
    list_share_links,
    list_tokens,
    list_variables,
)
from podium.store.models import Space

from . import views
from .pages import Pages, login_redirect

MAX_TREE_ENTRIES = 2000
MAX_FILE_VIEW = 512 * 1024


def _viewer(request: Request, platform: PlatformDep) -> Principal | None:
    principal = principal_from_request(platform, request, page=True)
    request.state.viewer = principal  # for error pages rendered after the handler failed
    return principal


Viewer = Annotated[Principal | None, Depends(_viewer)]


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
    register_url_convertor("owner", OwnerConvertor())
    pages = Pages(settings)
    router = APIRouter(route_class=pages.route_class(), include_in_schema=False)

    def gallery_page(
        viewer: Principal | None, *, owner: str | None, search: str, sdk: str, stage: str,
        page: int,
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

    @router.get("/")
    def gallery(
        viewer: Viewer, search: str = "", sdk: str = "", stage: str = "",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        sdk, stage, search = _choice(sdk, Sdk), _choice(stage, Stage), search.strip()[:200]
        cards, pager = gallery_page(
            viewer, owner=None, search=search, sdk=sdk, stage=stage, page=page)
        params: dict[str, Any] = {"search": search, "sdk": sdk, "stage": stage, "page": page}
        return pages.render(
            "gallery.html", viewer=viewer, cards=cards, pager=pager, params=params,
            qs=views.query_string, sdks=views.SDK_LABELS, stages=views.STAGE_LABELS,
        )

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

    @router.get("/static/dashboard/{filename}")
    def static(filename: str) -> Response:
        return FileResponse(
            pages.static_path(filename),
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @router.get("/{owner:owner}")
    def profile(
        owner: str, viewer: Viewer, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        validate_owner(owner)
        with platform.db.session() as session:
            user = find_user(session, owner)
        cards, pager = gallery_page(
            viewer, owner=owner, search="", sdk="", stage="", page=page)
        if user is None and not pager.total:
            raise NotFound(f"no user or organisation named {owner!r}")
        return pages.render(
            "profile.html", viewer=viewer, owner=user.username if user else owner,
            cards=cards, pager=pager, params={"page": page}, qs=views.query_string,
            is_self=bool(viewer and viewer.username.lower() == owner.lower()),
        )

    def space_context(viewer: Principal | None, owner: str, name: str, tab: str) -> dict:
        space_id = SpaceId(owner, name)
        space = readable_space(platform, viewer, space_id)
        card = views.Card.of(settings, space)
        return {
            "viewer": viewer, "space": space, "card": card, "urls": card.urls, "tab": tab,
            "can_write": may_write(viewer, space.owner), "space_id": space_id,
            "commit": space.deployed_commit or space.head_commit,
        }

    @router.get("/{owner:owner}/{name}")
    def space_app(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(viewer, owner, name, "app")
        space: Space = ctx["space"]
        urls: views.SpaceUrls = ctx["urls"]
        # Private apps are framed through the API, which hands the browser an access grant.
        ctx["frame_src"] = f"{urls.api}/open" if space.private else urls.host
        ctx["serving"] = Stage(space.stage).is_serving
        ctx["embed"] = views.embed_snippets(
            urls, space.sdk, _sdk_version(settings, ctx["space_id"], space))
        ctx["phases"] = list(BuildPhase)
        return pages.render("space_app.html", **ctx)

    @router.get("/{owner:owner}/{name}/tree")
    def space_files(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(viewer, owner, name, "files")
        entries: list[Any] = []
        if ctx["commit"]:
            tree = read_tree(settings, ctx["space_id"], ctx["commit"])
            entries = sorted((e for e in tree if e.type == "blob"), key=lambda e: e.path)
        ctx.update(entries=entries[:MAX_TREE_ENTRIES], truncated=len(entries) > MAX_TREE_ENTRIES,
                   size=views.human_size)
        return pages.render("space_files.html", **ctx)

    @router.get("/{owner:owner}/{name}/blob/{path:path}")
    def space_file(owner: str, name: str, path: str, viewer: Viewer) -> Response:
        ctx = space_context(viewer, owner, name, "files")
        if not ctx["commit"]:
            raise NotFound(f"Space {ctx['space_id']} has no files yet")
        data = read_file(settings, ctx["space_id"], ctx["commit"], path)
        text: str | None = None
        if len(data) <= MAX_FILE_VIEW and b"\0" not in data[:8192]:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        ctx.update(path=path, text=text, size=views.human_size(len(data)),
                   too_large=len(data) > MAX_FILE_VIEW)
        return pages.render("space_file.html", **ctx)

    @router.get("/{owner:owner}/{name}/logs")
    def space_logs(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(viewer, owner, name, "logs")
        with platform.db.session() as session:
            builds = list_builds(session, ctx["space"], limit=10)
        ctx.update(builds=builds, phases=list(BuildPhase))
        return pages.render("space_logs.html", **ctx)

    @router.get("/{owner:owner}/{name}/settings")
    def space_settings(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(viewer, owner, name, "settings")
        if not ctx["can_write"]:
            # Readers see the Space, not its settings; strangers of a private one saw a 404.
            raise NotFound(f"no settings page for {ctx['space_id']} that you may open")
        space = ctx["space"]
        with platform.db.session() as session:
            ctx.update(
                secret_keys=list_secret_keys(session, space),
                variables=list_variables(session, space),
                share_links=list_share_links(session, space, include_revoked=True),
            )
        ctx.update(
            sleep_choices=views.SLEEP_CHOICES, expiry_choices=views.SHARE_EXPIRY_CHOICES,
            default_sleep=settings.sleep_time, default_cpus=settings.space_cpus,
            default_memory=settings.space_memory,
        )
        return pages.render("space_settings.html", **ctx)

    return router


def _sdk_version(settings: Settings, space_id: SpaceId, space: Space) -> str | None:
    """For the <gradio-app> embed snippet, which loads the matching gradio.js."""
    commit = space.deployed_commit or space.head_commit
    if space.sdk != Sdk.GRADIO or not commit:
        return None
    try:
        return config_at(settings, space_id, commit).sdk_version
    except PodiumError:
        return None
