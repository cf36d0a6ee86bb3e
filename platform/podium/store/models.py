"""The tables. Portable across SQLite and PostgreSQL: plain strings for enums, timezone-aware
UTC datetimes on every backend, no dialect-specific column types."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship

from podium.errors import BadRequest
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Sdk, Stage


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out. SQLite keeps no offset, so naive values read back
    are UTC by construction; naive values written are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def without_nul(value: str | None) -> str | None:
    """Program output (build logs, container errors) as storable text: PostgreSQL refuses
    NUL characters anywhere in a string."""
    return value.replace("\x00", "\ufffd") if value else value


def _str_enum(cls: type[enum.Enum], length: int = 32) -> Enum:
    # VARCHAR of the member values, no native ENUM type and no CHECK constraint: adding a
    # stage later needs no migration, and the rows read the same on every backend.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class TokenScope(enum.StrEnum):
    READ = "read"
    WRITE = "write"


# Stable constraint names, so later alembic migrations (batch mode on SQLite) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime()}


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def _fits_every_backend(mapper: Mapper[Any], _connection: Any, target: Base) -> None:
    # SQLite keeps any string whole; PostgreSQL refuses one longer than its VARCHAR or
    # holding a NUL, with a DataError that would surface as a 500. Refuse both the same way
    # on every backend, saying which field.
    loaded = inspect(target).dict
    for prop in mapper.column_attrs:
        value = loaded.get(prop.key)
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise BadRequest(f"{prop.key} cannot contain NUL characters")
        length = getattr(prop.columns[0].type, "length", None)
        if length is not None and len(value) > length:
            raise BadRequest(f"{prop.key} is longer than {length} characters")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(39))
    # Lower-cased username: the unique column, so "Alice" and "alice" are one account.
    username_key: Mapped[str] = mapped_column(String(39), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by an admin: the account can no longer sign in or use its tokens (kept, not
    # deleted, so its Spaces keep an owner and it can be enabled again).
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 hex of the secret; the secret itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[TokenScope] = mapped_column(_str_enum(TokenScope, 16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    def allows(self, needed: TokenScope | str) -> bool:
        """A write token may also read."""
        return TokenScope(needed) == TokenScope.READ or self.scopes == TokenScope.WRITE

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix}… {self.name!r}>"


class Space(Base):
    __tablename__ = "spaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(39))
    name: Mapped[str] = mapped_column(String(96))
    key: Mapped[str] = mapped_column(String(140), unique=True)
    # Two ids can slug to one hostname (alice-x/demo, alice/x-demo); this column refuses it.
    subdomain: Mapped[str] = mapped_column(String(63), unique=True)
    sdk: Mapped[Sdk] = mapped_column(_str_enum(Sdk, 16))
    title: Mapped[str | None] = mapped_column(String(200))
    emoji: Mapped[str | None] = mapped_column(String(16))
    color_from: Mapped[str | None] = mapped_column(String(16))
    color_to: Mapped[str | None] = mapped_column(String(16))
    short_description: Mapped[str | None] = mapped_column(String(300))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    # None = settings.sleep_time.
    sleep_time: Mapped[int | None] = mapped_column(Integer)
    cpu_limit: Mapped[float | None] = mapped_column(Float)
    memory_limit: Mapped[str | None] = mapped_column(String(16))
    stage: Mapped[Stage] = mapped_column(_str_enum(Stage), default=Stage.NO_APP_FILE)
    stage_message: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[str | None] = mapped_column(Text)
    head_commit: Mapped[str | None] = mapped_column(String(64))
    deployed_commit: Mapped[str | None] = mapped_column(String(64))
    deployed_image: Mapped[str | None] = mapped_column(String(255))
    likes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_access_at: Mapped[datetime | None]
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Dev mode (issue 14 item 2): a code-only push is copied into the running container
    # and the app's own reloader picks it up; off = every push builds and swaps.
    dev_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    builds: Mapped[list[Build]] = relationship(
        back_populates="space", cascade="all, delete-orphan", passive_deletes=True
    )
    secrets: Mapped[list[Secret]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    variables: Mapped[list[Variable]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    share_links: Mapped[list[ShareLink]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def space_id(self) -> SpaceId:
        return SpaceId(self.owner, self.name)

    def __repr__(self) -> str:
        return f"<Space {self.owner}/{self.name} {self.stage}>"


class Build(Base):
    __tablename__ = "builds"
    __table_args__ = (Index("ix_builds_space_id_queued_at", "space_id", "queued_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    commit: Mapped[str] = mapped_column(String(64))
    status: Mapped[BuildStatus] = mapped_column(
        _str_enum(BuildStatus, 16), default=BuildStatus.QUEUED
    )
    # Factory rebuild: build without the layer cache.
    factory: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    image: Mapped[str | None] = mapped_column(String(255))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # Live logs stream through Redis; the full text lands here once the build ends.
    log: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(128))

    space: Mapped[Space] = relationship(back_populates="builds")

    def __repr__(self) -> str:
        return f"<Build {self.id} {self.status}>"


class ShareLink(Base):
    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(39))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    max_views: Mapped[int | None] = mapped_column(Integer)
    views: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<ShareLink {self.prefix}… views={self.views}>"


class Like(Base):
    """One user's like of one Space: at most one row per pair (the primary key). The
    Space's ``likes`` column is the count of its rows, kept in the same transaction."""

    __tablename__ = "likes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    space_id: Mapped[int] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Like user={self.user_id} space={self.space_id}>"


class Secret(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("space_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    # Fernet token (podium.store.secrets.Cipher); never the plaintext.
    value_encrypted: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Secret {self.key}>"


class Variable(Base):
    __tablename__ = "variables"
    __table_args__ = (UniqueConstraint("space_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Variable {self.key}>"
