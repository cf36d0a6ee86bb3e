"""Secrets for a Space's container, read from the store at start time only: they are never
written to Redis with the scheduler's run spec."""

from __future__ import annotations

from collections.abc import Callable

from podium.names import SpaceId
from podium.store import Cipher, Database, find_space, secret_values


def secrets_provider(db: Database, cipher: Cipher) -> Callable[[str], dict[str, str]]:
    def provide(space_key: str) -> dict[str, str]:
        owner, name = space_key.split("/", 1)
        with db.session() as session:
            space = find_space(session, SpaceId(owner, name))
            return {} if space is None else secret_values(session, cipher, space)

    return provide
