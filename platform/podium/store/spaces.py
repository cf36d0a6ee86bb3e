"""Space records: identity (through ``SpaceId``), card metadata, limits and runtime stage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from podium.errors import AlreadyExists, BadRequest, NotFound
from podium.names import SpaceId
from podium.spaces.stage import Sdk, Stage

from .models import Space, utcnow, without_nul

MAX_PAGE = 500
# The Hub's sort keys (huggingface_hub's list_spaces(sort=...)), newest or most first.
SORTS = {"likes": Space.likes, "lastModified": Space.updated_at, "createdAt": Space.created_at,
         "trendingScore": Space.likes}

# What callers may set through create_space/update_space; identity columns (owner, name, key,
# subdomain) only change through SpaceId, and the stage through set_stage.
EDITABLE_FIELDS = frozenset({
    "sdk", "title", "emoji", "color_from", "color_to", "short_description", "pinned",
    "private", "sleep_time", "cpu_limit", "memory_limit", "head_commit", "deployed_commit",
    "deployed_image", "likes", "last_access_at", "paused", "dev_mode",
})


# Card text comes from README front matter, and a push is not refused over a long title:
# it is cut to its column instead (any other over-long field is refused by the models).
CARD_TEXT_FIELDS = ("title", "emoji", "short_description")


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise BadRequest(f"cannot set Space field(s) {', '.join(unknown)}")
    for name in CARD_TEXT_FIELDS:
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].replace("\x00", "")[: Space.__table__.c[name].type.length]
    if "sdk" in fields:
        try:
            fields["sdk"] = Sdk(fields["sdk"])
        except ValueError as exc:
            raise BadRequest(
                f"unknown sdk {fields['sdk']!r}", hint=f"use one of {', '.join(Sdk)}"
            ) from exc


def _clash(session: Session, space_id: SpaceId) -> AlreadyExists | None:
    same_key = session.scalar(select(Space).where(Space.key == space_id.key))
    if same_key is not None:
        return AlreadyExists(f"the Space {same_key.owner}/{same_key.name} already exists")
    same_host = session.scalar(select(Space).where(Space.subdomain == space_id.subdomain))
    if same_host is not None:
        return AlreadyExists(
            f"the Space {space_id} would be served at the same address "
            f"({space_id.subdomain}) as {same_host.owner}/{same_host.name}",
            hint="choose another name",
        )
    return None


def create_space(
    session: Session, space_id: SpaceId, *, sdk: Sdk | str, private: bool = False,
    **fields: Any,
) -> Space:
    fields = {**fields, "sdk": sdk}
    _check_fields(fields)
    clash = _clash(session, space_id)
    if clash is not None:
        raise clash
    space = Space(
        owner=space_id.owner, name=space_id.name, key=space_id.key,
        subdomain=space_id.subdomain, private=private, stage=Stage.NO_APP_FILE, **fields,
    )
    session.add(space)
    try:
        session.flush()
    except IntegrityError as exc:
        # Created concurrently between the check and the insert. The session must be rolled
        # back before it can query again, so the message cannot say which Space won.
        raise AlreadyExists(
            f"the Space {space_id} or another Space at the address {space_id.subdomain} "
            "already exists", hint="choose another name",
        ) from exc
    return space


def find_space(session: Session, space_id: SpaceId) -> Space | None:
    return session.scalar(select(Space).where(Space.key == space_id.key))


def get_space(session: Session, space_id: SpaceId) -> Space:
    space = find_space(session, space_id)
    if space is None:
        raise NotFound(f"Space {space_id} not found")
    return space


def list_spaces(
    session: Session, *, owner: str | None = None, sdk: Sdk | str | None = None,
    stage: Stage | str | None = None, search: str | None = None, offset: int = 0,
    limit: int = 50, include_private: bool = True, viewer: str | None = None,
    sort: str | None = None,
) -> tuple[list[Space], int]:
    """One page of Spaces, pinned first then most recently updated (or by ``sort``: a key
    of SORTS, descending), and the total count.

    ``include_private=False`` hides private Spaces except those owned by ``viewer``.
    """
    query = select(Space)
    if owner is not None:
        # key is "owner/name" lower-cased; owner names hold no LIKE wildcards.
        query = query.where(Space.key.startswith(f"{owner.lower()}/"))
    if sdk is not None:
        query = query.where(Space.sdk == Sdk(sdk))
    if stage is not None:
        query = query.where(Space.stage == Stage(stage))
    if search and "\x00" in search:
        query = query.where(false())  # nothing stored holds a NUL, and PostgreSQL cannot ask
    elif search:
        query = query.where(or_(
            Space.name.icontains(search, autoescape=True),
            Space.title.icontains(search, autoescape=True),
            Space.short_description.icontains(search, autoescape=True),
        ))
    if not include_private:
        visible = Space.private.is_(False)
        if viewer:
            visible = or_(visible, Space.key.startswith(f"{viewer.lower()}/"))
        query = query.where(visible)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (SORTS[sort].desc(),) if sort else (Space.pinned.desc(), Space.updated_at.desc())
    page = query.order_by(*order, Space.id.desc())
    page = page.offset(max(offset, 0)).limit(min(max(limit, 0), MAX_PAGE))
    return list(session.scalars(page)), total


def update_space(session: Session, space: Space, **fields: Any) -> Space:
    _check_fields(fields)
    for name, value in fields.items():
        setattr(space, name, value)
    space.updated_at = utcnow()
    session.flush()
    return space


def set_stage(
    session: Session, space: Space, stage: Stage | str, message: str | None = None,
    detail: str | None = None,
) -> Space:
    """Move the Space to ``stage``. Does not bump updated_at: sleeping and waking should not
    reorder the listing."""
    space.stage = Stage(stage)
    # Often a container's last log lines: program output, which may hold anything.
    space.stage_message = without_nul(message)
    space.error_detail = without_nul(detail)
    session.flush()
    return space


def delete_space(session: Session, space: Space) -> None:
    """Delete the record; builds, secrets, variables and share links go with it."""
    session.delete(space)
    session.flush()
