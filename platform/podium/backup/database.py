"""A consistent copy of the database and its way back.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies pages under SQLite's
own locking, so writers keep going and the copy is one committed state. PostgreSQL:
``pg_dump --format=custom`` (one repeatable-read snapshot), restored with ``pg_restore``
into an empty database; both binaries must be on PATH (Debian's ``postgresql-client``)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.store.db import SQLITE_BUSY_TIMEOUT_S, Database

from .manifest import ArchiveError

SQLITE_MEMBER = "database/podium.db"
POSTGRES_MEMBER = "database/podium.pgdump"
_PG_TIMEOUT_S = 3600


def backend(settings: Settings) -> str:
    return make_url(settings.resolved_database_url).get_backend_name()


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.resolved_database_url).database
    if not database or database == ":memory:":
        raise ArchiveError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _libpq_url(settings: Settings) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore read it (no "+psycopg" driver)."""
    url = make_url(settings.resolved_database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _pg_tool(name: str, args: list[str]) -> None:
    if shutil.which(name) is None:
        raise ServiceUnavailable(f"{name} is not installed",
                                 hint="install Debian's postgresql-client")
    done = subprocess.run([name, *args], capture_output=True, text=True, timeout=_PG_TIMEOUT_S)
    if done.returncode != 0:
        raise ServiceUnavailable(f"{name} failed: {done.stderr.strip()[-2000:]}")


def snapshot(settings: Settings, dest_dir: Path) -> tuple[str, Path]:
    """Copy the database into ``dest_dir``; returns (archive member, file)."""
    if backend(settings) == "sqlite":
        source = _sqlite_path(settings)
        if not source.is_file():
            raise ArchiveError(f"no database at {source}", hint="is PODIUM_DATA_DIR right?")
        out = dest_dir / "podium.db"
        src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_S)
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)  # the source stays writable for the platform meanwhile
        finally:
            dst.close()
            src.close()
        return SQLITE_MEMBER, out
    out = dest_dir / "podium.pgdump"
    _pg_tool("pg_dump", ["--format=custom", "--no-owner", "--no-privileges",
                         f"--file={out}", f"--dbname={_libpq_url(settings)}"])
    return POSTGRES_MEMBER, out


def check_empty(settings: Settings) -> None:
    """Refuse a target database that already holds anything (nothing is written)."""
    if backend(settings) == "sqlite":
        path = _sqlite_path(settings)
        if path.exists():
            raise ArchiveError(f"the database {path} already exists",
                               hint="restore into an empty data dir; nothing was changed")
        return
    db = Database(settings)
    try:
        tables = inspect(db.engine).get_table_names()
    finally:
        db.dispose()
    if tables:
        raise ArchiveError(
            f"the PostgreSQL database of PODIUM_DATABASE_URL already has tables "
            f"({', '.join(sorted(tables)[:5])})",
            hint="restore into an empty database (dropdb/createdb); nothing was changed")


def put_back(settings: Settings, member: str, staged: Path) -> None:
    """Install the staged copy as the platform's database (the target checked empty)."""
    if backend(settings) == "sqlite":
        if member != SQLITE_MEMBER:
            raise ArchiveError("this backup holds a PostgreSQL dump; PODIUM_DATABASE_URL "
                               "must name an empty PostgreSQL database to restore it")
        target = _sqlite_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, target)
        return
    if member != POSTGRES_MEMBER:
        raise ArchiveError("this backup holds a SQLite database; restore it with "
                           "PODIUM_DATABASE_URL empty (SQLite in the data dir)")
    _pg_tool("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error",
                            f"--dbname={_libpq_url(settings)}", str(staged)])
