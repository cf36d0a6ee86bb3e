"""Secrets for a Space's container, read from the store at start time only: they are never
written to Redis with the scheduler's run spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from podium.names import SpaceId
from podium.store import find_space, secret_values

if TYPE_CHECKING:
    from .platform import Platform


def secrets_provider(platform: Platform) -> Callable[[str], dict[str, str]]:
    def provide(space_key: str) -> dict[str, str]:
        owner, name = space_key.split("/", 1)
        with platform.db.session() as session:
            space = find_space(session, SpaceId(owner, name))
            return {} if space is None else secret_values(session, platform.cipher, space)

    return provide
