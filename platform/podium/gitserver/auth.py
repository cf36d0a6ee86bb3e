"""Who may clone and push. The git server asks a ``GitAccess`` (implemented over the store by
whoever mounts it) and turns the answers into HTTP statuses git understands."""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from podium.errors import Forbidden, InvalidName, NotFound, Unauthorized
from podium.names import SpaceId


class GitPrincipal(Protocol):
    username: str
    is_admin: bool


class GitAccess(Protocol):
    def authenticate(self, username: str, password: str) -> GitPrincipal | None:
        """``password`` is an API token. None when it does not authenticate ``username``."""
        ...

    def space_exists(self, space_id: SpaceId) -> bool: ...

    def can_write(self, principal: GitPrincipal, space_id: SpaceId) -> bool:
        """The owner or an admin."""
        ...

    def can_read(self, principal: GitPrincipal | None, space_id: SpaceId) -> bool: ...


def space_id_of(owner: str, name: str) -> SpaceId:
    """The Space a repository URL names ("name" or "name.git"); a name that cannot be one
    is a missing Space."""
    name = name.removesuffix(".git")
    try:
        return SpaceId(owner, name)
    except InvalidName as exc:
        raise NotFound(f"Space {owner}/{name} does not exist.", hint=exc.hint) from exc


TOKEN_HINT = "use an API token as the password: git push http://USER:TOKEN@HOST/spaces/OWNER/NAME"


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an ``Authorization: Basic`` header, None when absent or
    malformed (treated as no credentials, so git is challenged and asks for them)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


class FailureThrottle(Protocol):
    """``podium.throttle.PasswordThrottle``: counts failed credentials per account and
    address, raising TooManyRequests past its limits."""

    def check(self, username: str, address: str) -> None: ...

    def failed(self, username: str, address: str) -> None: ...


def _authenticate(
    access: GitAccess, creds: tuple[str, str], throttle: FailureThrottle | None, address: str,
) -> GitPrincipal:
    """A right token always passes (it cannot be guessed, and a guesser's lock-out must not
    stop CI pushes); wrong credentials, passwords included, count as failed guesses and
    past the limit get 429 instead of 401."""
    principal = access.authenticate(*creds)
    if principal is not None:
        return principal
    if throttle is not None:
        throttle.failed(creds[0], address)
        throttle.check(creds[0], address)
    raise Unauthorized(f"Invalid username or token for {creds[0]!r}.", hint=TOKEN_HINT)


def authorize(
    access: GitAccess, space_id: SpaceId, *, write: bool, authorization: str | None,
    throttle: FailureThrottle | None = None, address: str = "",
) -> GitPrincipal | None:
    """The principal allowed to read (or, with ``write``, push to) the Space; None means
    anonymous read. Raises NotFound / Unauthorized / Forbidden / TooManyRequests with
    messages for git.

    A stranger cannot tell a private Space from a missing one: the answer depends only on
    who asks and whether they may read it. Without credentials, anything but reading a
    public Space gets one 401 challenge (git sends credentials only after a 401, so the
    owner's git still authenticates); credentials that do not authenticate get one 401; an
    authenticated user who may not read the Space gets the 404 of a missing one."""
    creds = parse_basic(authorization)
    principal = _authenticate(access, creds, throttle, address) if creds else None
    readable = access.space_exists(space_id) and access.can_read(principal, space_id)
    if principal is None:
        if readable and not write:
            return None
        raise Unauthorized(f"Authentication required for {space_id}.", hint=TOKEN_HINT)
    if not readable:
        raise NotFound(
            f"Space {space_id} does not exist.",
            hint="create it on the dashboard or with `podium create` before pushing",
        )
    if write and not access.can_write(principal, space_id):
        # It can read the Space, so its existence is no secret to it.
        raise Forbidden(
            f"{principal.username} may not push to {space_id}: only its owner or an "
            "admin can.",
        )
    return principal
