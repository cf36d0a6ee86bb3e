"""Who may read visit counts, and the series the API and dashboard show: a Space's to its
owner and admins (as on the Hub, analytics are not public), an owner's total (every Space
of theirs, visitors counted once across them) to that owner and admins."""

from __future__ import annotations

from podium.analytics.visits import DayVisits, series
from podium.controller.access import Principal, owns
from podium.controller.platform import Platform
from podium.errors import Forbidden
from podium.store import list_spaces
from podium.store.models import Space

# An owner's chart sums this many of their Spaces at most (one Redis round trip for all).
MAX_SPACES_SUMMED = 1000


def may_see_visits(principal: Principal | None, owner: str) -> bool:
    return owns(principal, owner)


def space_visits(platform: Platform, principal: Principal | None, space: Space) -> list[DayVisits]:
    if not may_see_visits(principal, space.owner):
        raise Forbidden(f"only the owner of {space.space_id} (or an admin) sees its visits")
    return series(platform.redis, [space.space_id.key])


def owner_visits(platform: Platform, principal: Principal | None, owner: str) -> list[DayVisits]:
    if not may_see_visits(principal, owner):
        raise Forbidden(f"only {owner} (or an admin) sees their Spaces' visits")
    with platform.db.session() as session:
        spaces, _ = list_spaces(session, owner=owner, limit=MAX_SPACES_SUMMED)
        keys = [space.space_id.key for space in spaces]
    return series(platform.redis, keys)
