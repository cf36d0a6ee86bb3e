"""The database handle: one engine per process, sessions as context managers, migrations run
in code (no alembic.ini, so it works the same from a checkout and from a wheel)."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from podium.config import Settings

from .models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The API, the workers and the proxy all write to one SQLite file; a writer waits this long
# for the lock instead of failing at once with "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0
# Arbitrary constant shared by every process migrating one PostgreSQL database.
_PG_MIGRATE_LOCK = 0x706F6469756D


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while one process writes; foreign keys are off by default
        # in SQLite and the cascades depend on them.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """``db = Database(settings); db.migrate()`` at a process edge, then
    ``with db.session() as s: ...`` (commits on success, rolls back on error)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url
        self.engine = make_engine(self.url)
        # Objects stay readable after the block ends (callers return them to templates).
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def alembic_config(self) -> Config:
        cfg = Config()
        # configparser interpolation: a '%' in the path must be doubled.
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``. Safe to call from several processes at once."""
        with self._migration_lock(), self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATE_LOCK})")
            cfg = self.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def create_all(self) -> None:
        """Tables straight from the models: for tests only; production uses ``migrate()``."""
        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # SQLite has no advisory locks; a lock file next to the database serialises the
        # processes that start together (api, worker, proxy) on one host.
        database = make_url(self.url).database if self.is_sqlite else None
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
