"""Visits per day over the last 30 days, as JSON: a Space's, and an owner's over all of
their Spaces (podium.controller.analytics says who may read them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from podium.analytics.visits import DayVisits
from podium.controller.analytics import owner_visits, space_visits
from podium.names import validate_owner
from podium.store import get_user

from .deps import OptionalUser, PlatformDep, ReadableSpace

router = APIRouter(prefix="/api", tags=["analytics"])


def _answer(days: list[DayVisits]) -> dict[str, Any]:
    return {
        "days": [d.as_json() for d in days],
        "total_visits": sum(d.visits for d in days),
        "rule": "GET navigations the Space answered 2xx; visitors estimated per day",
    }


@router.get("/spaces/{owner}/{name}/analytics")
def space_analytics(space: ReadableSpace, platform: PlatformDep,
                    principal: OptionalUser) -> dict[str, Any]:
    return {"space": str(space.space_id), **_answer(space_visits(platform, principal, space))}


@router.get("/users/{username}/analytics")
def owner_analytics(username: str, platform: PlatformDep,
                    principal: OptionalUser) -> dict[str, Any]:
    validate_owner(username)
    with platform.db.session() as session:
        name = get_user(session, username).username
    return {"owner": name, **_answer(owner_visits(platform, principal, name))}
