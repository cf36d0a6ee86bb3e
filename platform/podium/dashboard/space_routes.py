"""A Space's pages on the dashboard: its app, files, logs and settings tabs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from podium.api.deps import readable_space
from podium.config import Settings
from podium.controller.access import Principal, may_write
from podium.controller.analytics import may_see_visits, space_visits
from podium.controller.placement import placement_of
from podium.controller.platform import Platform
from podium.errors import NotFound
from podium.gitserver.repo import read_file, read_tree
from podium.names import SpaceId
from podium.spaces.stage import BuildPhase, Stage
from podium.store import (
    likes_of,
    list_builds,
    list_secret_keys,
    list_share_links,
    list_variables,
)
from podium.store.models import Space

from . import views
from .charts import VisitChart
from .pages import Pages
from .viewer import Viewer

MAX_TREE_ENTRIES = 2000
MAX_FILE_VIEW = 512 * 1024


def space_context(
    settings: Settings, platform: Platform, viewer: Principal | None, owner: str, name: str,
    tab: str,
) -> dict:
    """What every tab of a Space shows; readable_space hides a private one from strangers."""
    space_id = SpaceId(owner, name)
    space = readable_space(platform, viewer, space_id)
    card = views.Card.of(settings, space)
    liked = False
    if viewer is not None and viewer.user_id is not None:
        with platform.db.session() as session:
            liked = likes_of(session, viewer.user_id, space.id)
    return {
        "viewer": viewer, "space": space, "card": card, "urls": card.urls, "tab": tab,
        "can_write": may_write(viewer, space.owner), "space_id": space_id,
        "commit": space.deployed_commit or space.head_commit, "liked": liked,
        "visit_chart": None,
    }


def add_space_pages(router: APIRouter, pages: Pages, platform: Platform) -> None:
    _add_app_and_files(router, pages, platform)
    _add_logs_and_settings(router, pages, platform)


def _add_app_and_files(router: APIRouter, pages: Pages, platform: Platform) -> None:
    settings = pages.settings

    @router.get("/{owner:owner}/{name}")
    def space_app(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(settings, platform, viewer, owner, name, "app")
        space: Space = ctx["space"]
        urls: views.SpaceUrls = ctx["urls"]
        # Private apps are framed through the API, which hands the browser an access grant.
        ctx["frame_src"] = f"{urls.api}/open" if space.private else urls.host
        ctx["serving"] = Stage(space.stage).is_serving
        ctx["embed"] = views.embed_snippets(urls, space.sdk)
        ctx["phases"] = list(BuildPhase)
        if may_see_visits(viewer, space.owner):
            ctx["visit_chart"] = VisitChart.of(space_visits(platform, viewer, space))
        return pages.render("space_app.html", **ctx)

    @router.get("/{owner:owner}/{name}/tree")
    def space_files(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(settings, platform, viewer, owner, name, "files")
        entries: list[Any] = []
        if ctx["commit"]:
            tree = read_tree(settings, ctx["space_id"], ctx["commit"])
            entries = sorted((e for e in tree if e.type == "blob"), key=lambda e: e.path)
        ctx.update(entries=entries[:MAX_TREE_ENTRIES], truncated=len(entries) > MAX_TREE_ENTRIES,
                   size=views.human_size)
        return pages.render("space_files.html", **ctx)

    @router.get("/{owner:owner}/{name}/blob/{path:path}")
    def space_file(owner: str, name: str, path: str, viewer: Viewer) -> Response:
        ctx = space_context(settings, platform, viewer, owner, name, "files")
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



def _add_logs_and_settings(router: APIRouter, pages: Pages, platform: Platform) -> None:
    settings = pages.settings

    @router.get("/{owner:owner}/{name}/logs")
    def space_logs(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(settings, platform, viewer, owner, name, "logs")
        with platform.db.session() as session:
            builds = list_builds(session, ctx["space"], limit=10)
        ctx.update(builds=builds, phases=list(BuildPhase))
        return pages.render("space_logs.html", **ctx)

    @router.get("/{owner:owner}/{name}/settings")
    def space_settings(owner: str, name: str, viewer: Viewer) -> Response:
        ctx = space_context(settings, platform, viewer, owner, name, "settings")
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
            # On a cluster: the node it runs on, and whether its /data pins it there.
            placement=placement_of(platform, ctx["space_id"]),
        )
        return pages.render("space_settings.html", **ctx)
