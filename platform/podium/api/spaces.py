"""Spaces: list, create (empty, template, import), read, delete, duplicate, settings, open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import RedirectResponse

from podium.controller import lifecycle, sharing
from podium.controller.access import visible_spaces
from podium.spaces.stage import Sdk, Stage

from .deps import OptionalUser, PlatformDep, ReadableSpace, WritableSpace, WritingUser
from .schemas import DuplicateIn, Ok, SettingsIn, SpaceIn, SpaceList, SpaceOut

router = APIRouter(prefix="/api/spaces", tags=["spaces"])


@router.get("")
def list_all(
    platform: PlatformDep, principal: OptionalUser,
    owner: Annotated[str | None, Query(max_length=39)] = None,
    sdk: Sdk | None = None, stage: Stage | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
) -> SpaceList:
    """Spaces the caller may see, pinned first then most recently updated."""
    with platform.db.session() as session:
        items, total = visible_spaces(
            session, principal, owner=owner or None, sdk=sdk, stage=stage,
            search=search or None, offset=offset, limit=limit,
        )
    return SpaceList(items=[SpaceOut.of(s, platform.settings) for s in items], total=total)


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
    return SpaceOut.of(space, platform.settings)


@router.delete("/{owner}/{name}")
def delete(space: WritableSpace, platform: PlatformDep) -> Ok:
    lifecycle.delete(platform, space.space_id)
    return Ok()


@router.post("/{owner}/{name}/duplicate", status_code=201)
def duplicate(
    body: DuplicateIn, space: ReadableSpace, platform: PlatformDep, principal: WritingUser,
) -> SpaceOut:
    """Copy code and variables (never secrets) into a new Space and build it."""
    created = lifecycle.duplicate(
        platform, principal, space.space_id, to_name=body.to_name, to_owner=body.to_owner,
        private=body.private,
    )
    return SpaceOut.of(created.space, platform.settings)


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
