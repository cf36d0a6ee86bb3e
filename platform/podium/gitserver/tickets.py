"""One-build read tickets: how a build worker on another host fetches the commit it builds
(and its Git LFS objects) from the git server, with no user's token.

The worker issues a ticket for the one Space it builds (a random secret; Redis keeps only
its sha256 with the Space key and an expiry), hands it to its own ``git fetch`` as an HTTP
header and revokes it when the fetch is done. The git server accepts it, through
``TicketAccess``, as a principal that may read that Space and nothing else: no push, no
other Space, no API route. It never reaches the build context, the image or the Space.

Whoever can write to Redis can issue one, as they can already queue any job for the
workers: Redis is inside the platform's walls (SECURITY.md)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

import redis

from podium.keys import builds as keys
from podium.names import SpaceId

from .auth import GitAccess, GitPrincipal

# The user name the worker's requests carry (git sends one); the ticket is the credential.
USERNAME = "podium-build"
# Tickets start so, so the git server knows one without a database lookup; no API token
# does (they start "pod_", store/users.py).
PREFIX = "pbt_"
# A ticket covers one fetch (seconds to minutes); revoked at once after it.
TTL_S = 600


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class FetchTickets:
    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    def issue(self, space_id: SpaceId, ttl: int = TTL_S) -> str:
        ticket = PREFIX + secrets.token_urlsafe(32)
        self.conn.set(keys.fetch_ticket(_digest(ticket)), space_id.key, ex=ttl)
        return ticket

    def space_of(self, ticket: str) -> str | None:
        """The Space key ``ticket`` may read, or None (unknown, expired or revoked)."""
        if not ticket.startswith(PREFIX):
            return None
        found = self.conn.get(keys.fetch_ticket(_digest(ticket)))
        return found.decode() if isinstance(found, bytes) else found

    def revoke(self, ticket: str) -> None:
        self.conn.delete(keys.fetch_ticket(_digest(ticket)))


def basic_header(ticket: str) -> str:
    """The ``Authorization`` value the worker's git and LFS requests send."""
    return "Basic " + base64.b64encode(f"{USERNAME}:{ticket}".encode()).decode()


@dataclass(frozen=True, slots=True)
class BuildReader:
    """The principal of a ticket: reads one Space."""

    space_key: str
    username: str = USERNAME
    is_admin: bool = False


class TicketAccess:
    """A ``GitAccess`` that accepts fetch tickets beside whatever ``inner`` accepts."""

    def __init__(self, inner: GitAccess, tickets: FetchTickets) -> None:
        self.inner = inner
        self.tickets = tickets

    def authenticate(self, username: str, password: str) -> GitPrincipal | None:
        if password.startswith(PREFIX):
            space_key = self.tickets.space_of(password)
            return BuildReader(space_key) if space_key else None
        return self.inner.authenticate(username, password)

    def space_exists(self, space_id: SpaceId) -> bool:
        return self.inner.space_exists(space_id)

    def can_write(self, principal: GitPrincipal, space_id: SpaceId) -> bool:
        if isinstance(principal, BuildReader):
            return False
        return self.inner.can_write(principal, space_id)

    def can_read(self, principal: GitPrincipal | None, space_id: SpaceId) -> bool:
        if isinstance(principal, BuildReader):
            return principal.space_key == space_id.key
        return self.inner.can_read(principal, space_id)
