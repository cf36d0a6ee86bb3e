"""Who may read and write a Space, over the store: the git server's GitAccess, the API's
permission checks and the dashboard's lists share these rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from podium.errors import PodiumError
from podium.names import SpaceId
from podium.store import Database, find_space, list_spaces, verify_token
from podium.store.models import Space


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    is_admin: bool
    user_id: int | None = None
    can_write_scope: bool = True


def owns(principal: Principal | None, owner: str) -> bool:
    if principal is None:
        return False
    return principal.is_admin or principal.username.lower() == owner.lower()


def may_read(principal: Principal | None, space: Space) -> bool:
    return not space.private or owns(principal, space.owner)


def visible_spaces(
    session: Session, principal: Principal | None, **filters: Any,
) -> tuple[list[Space], int]:
    """One page of the Spaces ``principal`` may see (``may_read`` for a list: public ones,
    its own private ones, every one for an admin); ``filters`` go to store.list_spaces."""
    return list_spaces(
        session, include_private=bool(principal and principal.is_admin),
        viewer=principal.username if principal else None, **filters,
    )


def may_write(principal: Principal | None, owner: str) -> bool:
    return principal is not None and principal.can_write_scope and owns(principal, owner)


class StoreGitAccess:
    """podium.gitserver.auth.GitAccess backed by the store. The password is an API token;
    the user name must be the token's owner (git sends whatever the URL says)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def authenticate(self, username: str, password: str) -> Principal | None:
        with self.db.session() as session:
            try:
                user, token = verify_token(session, password)
            except PodiumError:
                return None
            if username and username.lower() != user.username.lower():
                return None
            return Principal(user.username, user.is_admin, user.id, token.allows("write"))

    def _space(self, space_id: SpaceId) -> Space | None:
        with self.db.session() as session:
            return find_space(session, space_id)

    def space_exists(self, space_id: SpaceId) -> bool:
        return self._space(space_id) is not None

    def can_write(self, principal: Principal, space_id: SpaceId) -> bool:
        return may_write(principal, space_id.owner)

    def can_read(self, principal: Principal | None, space_id: SpaceId) -> bool:
        space = self._space(space_id)
        return space is not None and may_read(principal, space)
