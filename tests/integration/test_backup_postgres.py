"""Backup and restore with PODIUM_DATABASE_URL on a real PostgreSQL server: pg_dump of the
running database, pg_restore into an empty one (a database with tables is refused), and the
restored store handed to the catch-up pass as on SQLite (tests/unit/test_backup.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from podium.backup import ArchiveError, restore_backup, write_backup
from podium.config import Settings
from tests.unit.test_backup import check_restored, populate


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases on the session's server; all dropped afterwards."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"podium_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _settings(data_dir: Path, url: str) -> Settings:
    return Settings(data_dir=data_dir, redis_url="", database_url=url, push_handler="")


def test_postgres_round_trip_through_pg_dump_and_pg_restore(
    empty_database: Callable[[], str], tmp_path: Path,
) -> None:
    source = _settings(tmp_path / "a", empty_database())
    token = populate(source, tmp_path)
    archive = tmp_path / "backup.tar"
    manifest = write_backup(source, archive).manifest
    assert manifest.database["backend"] == "postgresql"
    assert manifest.database["member"] == "database/podium.pgdump"
    target = _settings(tmp_path / "b", empty_database())
    restore_backup(target, archive)
    check_restored(target, token)
    # The database now has tables: a second restore (into an empty data dir) is refused.
    again = target.model_copy(update={"data_dir": tmp_path / "c"})
    with pytest.raises(ArchiveError, match="already has tables"):
        restore_backup(again, archive)
    assert not again.data_dir.exists()
    # A SQLite target cannot take a PostgreSQL dump, and says so.
    sqlite = _settings(tmp_path / "d", "")
    with pytest.raises(ArchiveError, match="PostgreSQL dump"):
        restore_backup(sqlite, archive)
    assert not sqlite.data_dir.exists()
