"""Space secrets (Fernet-encrypted at rest, values leave only for the container's environment)
and variables (plain, shown in the UI). Both become environment variables of the Space."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from podium.config import Settings
from podium.errors import AlreadyExists, BadRequest, NotFound, PodiumError

from .models import Secret, Space, Variable, utcnow

ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Podium sets these itself (SPACE_ID, SPACE_HOST, ...); a user value would be silently lost
# or, worse, break the runner.
RESERVED_PREFIXES = ("SPACE_", "PODIUM_")
RESERVED_NAMES = frozenset({"PATH", "HOME", "HOSTNAME", "PORT", "PYTHONPATH"})
MAX_VALUE_BYTES = 64 * 1024


class Cipher:
    """Fernet over ``settings.secret_key`` (comma-separated keys rotate: the first encrypts,
    any decrypts), else over a key generated once into ``data_dir/secret.key`` (mode 0600)."""

    def __init__(self, settings: Settings) -> None:
        keys = settings.secret_keys or [self._load_or_create_key(settings.secret_key_file)]
        self._primary = keys[0]
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:
            raise PodiumError(
                "the secret key is not a valid Fernet key",
                hint="PODIUM_SECRET_KEY must be 32 url-safe base64-encoded bytes; make one "
                "with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
            ) from exc

    @staticmethod
    def _load_or_create_key(path: Path) -> str:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, Fernet.generate_key() + b"\n")
            finally:
                os.close(fd)
            try:
                # link() fails if another process created the key first: its key wins, and
                # no reader ever sees a half-written file.
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()

    def derive_key(self, purpose: str) -> bytes:
        """A key for another use (signing session cookies, share grants), derived from the
        primary key so one secret protects everything and rotating it logs everyone out."""
        return hashlib.sha256(f"podium:{purpose}:{self._primary}".encode()).digest()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise PodiumError(
                "cannot decrypt a stored secret",
                hint="the secret key changed; restore data_dir/secret.key or "
                "PODIUM_SECRET_KEY, or set the secret again",
            ) from exc


def validate_env_key(key: str) -> str:
    if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
        raise BadRequest(
            f"invalid name {key!r}",
            hint="use letters, digits and '_', not starting with a digit, at most 128 "
            "characters (it becomes an environment variable)",
        )
    if key.upper().startswith(RESERVED_PREFIXES) or key.upper() in RESERVED_NAMES:
        raise BadRequest(
            f"the name {key!r} is reserved",
            hint=f"names starting with {' or '.join(RESERVED_PREFIXES)} and "
            f"{', '.join(sorted(RESERVED_NAMES))} are set by Podium",
        )
    return key


def _validate_value(value: str) -> str:
    if not isinstance(value, str) or len(value.encode()) > MAX_VALUE_BYTES:
        raise BadRequest(f"a value must be a string of at most {MAX_VALUE_BYTES} bytes")
    if "\x00" in value:
        raise BadRequest("a value cannot contain NUL characters",
                         hint="it becomes an environment variable, which cannot hold them")
    return value


def _find_secret(session: Session, space: Space, key: str) -> Secret | None:
    return session.scalar(select(Secret).where(Secret.space_id == space.id, Secret.key == key))


def _find_variable(session: Session, space: Space, key: str) -> Variable | None:
    return session.scalar(
        select(Variable).where(Variable.space_id == space.id, Variable.key == key)
    )


def set_secret(session: Session, cipher: Cipher, space: Space, key: str, value: str) -> Secret:
    validate_env_key(key)
    _validate_value(value)
    if _find_variable(session, space, key) is not None:
        raise AlreadyExists(f"{key} is already a variable of this Space",
                            hint="delete the variable first")
    secret = _find_secret(session, space, key)
    if secret is None:
        secret = Secret(space_id=space.id, key=key)
        session.add(secret)
    secret.value_encrypted = cipher.encrypt(value)
    secret.updated_at = utcnow()
    session.flush()
    return secret


def delete_secret(session: Session, space: Space, key: str) -> None:
    result = session.execute(
        delete(Secret).where(Secret.space_id == space.id, Secret.key == key)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no secret {key!r} in this Space")


def list_secret_keys(session: Session, space: Space) -> list[str]:
    """Names only: a secret's value is never shown back."""
    return list(session.scalars(
        select(Secret.key).where(Secret.space_id == space.id).order_by(Secret.key)
    ))


def secret_values(session: Session, cipher: Cipher, space: Space) -> dict[str, str]:
    """Decrypted values, for the container's environment only."""
    rows = session.scalars(select(Secret).where(Secret.space_id == space.id))
    return {row.key: cipher.decrypt(row.value_encrypted) for row in rows}


def set_variable(
    session: Session, space: Space, key: str, value: str, description: str | None = None
) -> Variable:
    validate_env_key(key)
    _validate_value(value)
    if _find_secret(session, space, key) is not None:
        raise AlreadyExists(f"{key} is already a secret of this Space",
                            hint="delete the secret first")
    variable = _find_variable(session, space, key)
    if variable is None:
        variable = Variable(space_id=space.id, key=key)
        session.add(variable)
    variable.value = value
    variable.description = description
    variable.updated_at = utcnow()
    session.flush()
    return variable


def delete_variable(session: Session, space: Space, key: str) -> None:
    result = session.execute(
        delete(Variable).where(Variable.space_id == space.id, Variable.key == key)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no variable {key!r} in this Space")


def list_variables(session: Session, space: Space) -> list[Variable]:
    return list(session.scalars(
        select(Variable).where(Variable.space_id == space.id).order_by(Variable.key)
    ))
