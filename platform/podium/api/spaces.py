"""Spaces: list, create (empty, template, import), read, delete, duplicate, settings, open;
in the Hub's shapes where huggingface_hub reads them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import RedirectResponse

from podium.controller import lifecycle, repos, sharing
from podium.controller.access import visible_spaces
from podium.errors import BadRequest
from podium.names import SpaceId
from podium.spaces.stage import Sdk, Stage

from .deps import OptionalUser, PlatformDep, ReadableSpace, WritableSpace, WritingUser
from .hub_files import siblings
from .runtime import runtime_of
from .schemas import DuplicateIn, Ok, SettingsIn, SpaceIn, SpaceOut

router = APIRouter(prefix="/api/spaces", tags=["spaces"])
PAGE_MAX = 100


@router.get("")
def list_all(
    request: Request, response: Response, platform: PlatformDep, principal: OptionalUser,
    owner: Annotated[str | None, Query(max_length=39)] = None,
    author: Annotated[str | None, Query(max_length=39)] = None,
    sdk: Sdk | None = None, stage: Stage | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["likes", "lastModified", "createdAt", "trendingScore"] | None = None,
    full: bool = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[SpaceOut]:
    """Spaces the caller may see, pinned first then most recently updated (or by ``sort``).
    A JSON list as the Hub answers, so huggingface_hub's list_spaces reads it: the total is
    in X-Total-Count, the next page in a Link header (rel="next")."""
    # No limit: pages of 24 linked to the end (huggingface_hub's list_spaces() reads all).
    page = min(limit or 24, PAGE_MAX)
    with platform.db.session() as session:
        items, total = visible_spaces(
            session, principal, owner=owner or author or None, sdk=sdk, stage=stage,
            search=search or None, offset=offset, limit=page, sort=sort,
        )
    response.headers["X-Total-Count"] = str(total)
    if offset + page < total and (limit is None or limit > page):
        rest = {} if limit is None else {"limit": limit - page}
        after = request.url.include_query_params(offset=offset + page, **rest)
        response.headers["Link"] = f'<{after}>; rel="next"'
    out = [SpaceOut.of(s, platform.settings) for s in items]
    if full:
        for space, item in zip(items, out, strict=True):
            item.siblings = siblings(platform, space)
    return out


@router.post("", status_code=201)
def create(body: SpaceIn, platform: PlatformDep, principal: WritingUser) -> SpaceOut:
    """An empty Space (push to its git_url), or one whose first commit comes from a template
    or a public git URL; those get a build queued."""
    created = lifecycle.create(
        platform, principal, name=body.name, owner=body.owner, sdk=body.sdk,
        private=body.private, template=body.template, from_url=body.from_url,
    )
    return SpaceOut.of(created.space, platform.settings)


@router.get("/{owner}/{name}")
def read(space: ReadableSpace, platform: PlatformDep) -> SpaceOut:
    """The Space with its files (``siblings``) and runtime, as the Hub's space_info."""
    out = SpaceOut.of(space, platform.settings)
    out.siblings = siblings(platform, space)
    out.runtime = runtime_of(platform, space)
    return out


@router.delete("/{owner}/{name}")
def delete(space: WritableSpace, platform: PlatformDep) -> Ok:
    lifecycle.delete(platform, space.space_id)
    return Ok()


@router.post("/{owner}/{name}/duplicate", status_code=201)
def duplicate(
    body: DuplicateIn, request: Request, space: ReadableSpace, platform: PlatformDep,
    principal: WritingUser,
) -> dict[str, Any]:
    """Copy code and variables (never secrets) into a new Space and build it. Asked in the
    Hub's shape ("repository"), the answer's ``url`` is the new repository's, which
    huggingface_hub's duplicate_repo reads; otherwise it is the Space's live URL."""
    owner, name = body.to_owner, body.to_name
    if body.repository:
        owner, _, name = body.repository.rpartition("/")
    if not name:
        raise BadRequest("give the new Space's name", hint='"to_name" or "repository"')
    private = body.private if body.visibility is None else body.visibility != "public"
    copy = repos.duplicate(
        platform, principal, space.space_id, SpaceId(owner or principal.username, name),
        private=private, hardware=body.hardware, sleep_time=body.sleepTimeSeconds,
        secrets=[repos.EnvEntry(e.key, e.value) for e in body.secrets],
        variables=[repos.EnvEntry(e.key, e.value, e.description) for e in body.variables],
    )
    out = SpaceOut.of(copy, platform.settings).model_dump(mode="json")
    if body.repository:
        out["url"] = f"{str(request.base_url).rstrip('/')}/spaces/{out['id']}"
    return out


@router.post("/{owner}/{name}/settings")
def change_settings(
    body: SettingsIn, space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks,
) -> SpaceOut:
    outcome = lifecycle.change_settings(
        platform, space.space_id, **body.model_dump(exclude_unset=True, exclude_none=True)
    )
    if outcome.background is not None:
        tasks.add_task(outcome.background)
    return SpaceOut.of(outcome.space, platform.settings)


@router.get("/{owner}/{name}/open", response_class=RedirectResponse, status_code=302)
def open_space(space: ReadableSpace, platform: PlatformDep, principal: OptionalUser) -> str:
    """Send the browser to the Space; a private one through a grant the proxy accepts."""
    return sharing.open_url(platform, principal, space)
