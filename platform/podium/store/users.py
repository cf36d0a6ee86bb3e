"""Users (argon2 password hashes) and their API tokens (sha256 of a high-entropy secret)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from podium.config import Settings
from podium.errors import AlreadyExists, BadRequest, NotFound, Unauthorized
from podium.names import validate_owner

from .models import ApiToken, TokenScope, User, utcnow

TOKEN_PREFIX = "pod_"
# Characters of the plaintext kept for display ("pod_Ab3x…"); far too few to guess from.
DISPLAY_PREFIX_LEN = 8
MIN_PASSWORD_LEN = 8
# last_used_at is advisory; writing it on every request would serialise all readers of a
# SQLite database behind the write lock.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as much as a
    wrong password and response times do not reveal which names exist."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LEN:
        raise BadRequest(
            "password too short", hint=f"use at least {MIN_PASSWORD_LEN} characters"
        )


def find_user(session: Session, username: str) -> User | None:
    if "\x00" in username:  # never a valid name, and PostgreSQL refuses it as a parameter
        return None
    return session.scalar(select(User).where(User.username_key == username.lower()))


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


def create_user(
    session: Session, username: str, password: str, *, email: str | None = None,
    is_admin: bool = False,
) -> User:
    validate_owner(username)
    _check_password(password)
    if find_user(session, username) is not None:
        raise AlreadyExists(
            f"the user name {username!r} is taken", hint="names are case-insensitive"
        )
    user = User(
        username=username, username_key=username.lower(), email=email,
        password_hash=_hasher.hash(password), is_admin=is_admin,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent signup won the race
        raise AlreadyExists(f"the user name {username!r} is taken") from exc
    return user


def set_password(session: Session, user: User, password: str) -> None:
    _check_password(password)
    user.password_hash = _hasher.hash(password)
    session.flush()


def _refuse_disabled(user: User) -> None:
    if user.disabled_at is not None:
        raise Unauthorized(f"the account {user.username!r} is disabled",
                           hint="ask an administrator to enable it")


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    """An admin's switch; the caller ends the user's sessions (they live in Redis)."""
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
    elif not disabled:
        user.disabled_at = None
    session.flush()


def authenticate(session: Session, username: str, password: str) -> User:
    user = find_user(session, username) if isinstance(username, str) else None
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise Unauthorized("invalid user name or password")
    _refuse_disabled(user)
    if _hasher.check_needs_rehash(user.password_hash):  # parameters were raised since
        user.password_hash = _hasher.hash(password)
        session.flush()
    return user


def ensure_admin(session: Session, settings: Settings) -> User | None:
    """Create the bootstrap admin from settings when the database has no user at all.

    Returns the new admin, or None when users exist already or no admin password is set.
    """
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    if not settings.admin_password:
        return None
    return create_user(session, settings.admin_user, settings.admin_password, is_admin=True)


def create_token(
    session: Session, user: User, name: str, scope: TokenScope | str = TokenScope.WRITE
) -> tuple[str, ApiToken]:
    """A new token; the plaintext is returned once and only its hash is stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise BadRequest("a token needs a name of 1 to 100 characters")
    try:
        scope = TokenScope(scope)
    except ValueError as exc:
        raise BadRequest(f"unknown token scope {scope!r}", hint="use 'read' or 'write'") from exc
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, token_hash=hash_token(plaintext),
        prefix=plaintext[:DISPLAY_PREFIX_LEN], scopes=scope,
    )
    session.add(token)
    session.flush()
    return plaintext, token


def verify_token(session: Session, plaintext: str) -> tuple[User, ApiToken]:
    if not isinstance(plaintext, str) or not plaintext.startswith(TOKEN_PREFIX):
        raise Unauthorized("invalid token", hint="tokens start with 'pod_'")
    digest = hash_token(plaintext)
    # The lookup is by hash, so timing reveals nothing about the secret; the explicit
    # comparison keeps that true whatever the database's index does.
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise Unauthorized("invalid token")
    if token.revoked_at is not None:
        raise Unauthorized("this token was revoked", hint="create a new token")
    _refuse_disabled(token.user)
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.flush()
    return token.user, token


def list_tokens(session: Session, user: User, *, include_revoked: bool = False) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token
