"""The store on a real PostgreSQL server (``postgres_url``), as deployments that set
PODIUM_DATABASE_URL run it.

The backend-neutral tests of tests/unit/test_store.py and test_store_records.py run here
unchanged, against a fresh database each: only the ``settings`` and ``db`` fixtures differ,
and "what the database keeps" is read back from the server instead of the SQLite file. Left
out are the SQLite-only ones (WAL pragmas, the lock file, create_all on a second SQLite file).
The tests below them cover what only PostgreSQL can get wrong."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from podium.config import Settings
from podium.spaces.stage import Sdk
from podium.store import Database, create_space
from podium.store.db import _PG_MIGRATE_LOCK
from tests.unit import test_store as store_tests
from tests.unit import test_store_records as record_tests


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    name = f"podium_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def settings(settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # The environment too: processes a test starts build their own Settings() from it.
    monkeypatch.setenv("PODIUM_DATABASE_URL", database_url)
    return settings.model_copy(update={"database_url": database_url})


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    assert database.engine.dialect.name == "postgresql"
    database.migrate()
    yield database
    database.dispose()


def stored_bytes(settings: Settings) -> bytes:
    """Every row of every table of the database, as PostgreSQL renders it (what pg_dump
    would write): the counterpart of the SQLite tests' scan of the database file."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            tables = conn.scalars(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )).all()
            rows = [row for table in tables
                    for row in conn.exec_driver_sql(f'SELECT t::text FROM "{table}" t').scalars()]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


@pytest.fixture(autouse=True)
def _scan_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared tests call their module's db_bytes(settings) to look at the stored data.
    for module in (store_tests, record_tests):
        monkeypatch.setattr(module, "db_bytes", stored_bytes)


class TestStore:
    """tests/unit/test_store.py: schema, users, tokens, Spaces."""

    test_migrate_yields_the_models_schema_and_is_idempotent = staticmethod(
        store_tests.test_migrate_yields_the_models_schema_and_is_idempotent)
    test_processes_starting_together_migrate_once = staticmethod(
        store_tests.test_processes_starting_together_migrate_once)
    test_naive_datetimes_are_refused = staticmethod(store_tests.test_naive_datetimes_are_refused)
    test_users_are_argon2_hashed_and_authenticate = staticmethod(
        store_tests.test_users_are_argon2_hashed_and_authenticate)
    test_usernames_are_unique_case_insensitively = staticmethod(
        store_tests.test_usernames_are_unique_case_insensitively)
    test_bad_usernames_and_passwords_are_refused = staticmethod(
        store_tests.test_bad_usernames_and_passwords_are_refused)
    test_ensure_admin_bootstraps_once = staticmethod(store_tests.test_ensure_admin_bootstraps_once)
    test_tokens_are_stored_hashed_and_verify = staticmethod(
        store_tests.test_tokens_are_stored_hashed_and_verify)
    test_revoked_tokens_no_longer_verify = staticmethod(
        store_tests.test_revoked_tokens_no_longer_verify)
    test_space_create_get_and_stage = staticmethod(store_tests.test_space_create_get_and_stage)
    test_same_key_in_another_case_is_refused = staticmethod(
        store_tests.test_same_key_in_another_case_is_refused)
    test_subdomain_clash_is_refused_with_a_clear_message = staticmethod(
        store_tests.test_subdomain_clash_is_refused_with_a_clear_message)
    test_list_spaces_filters_pages_and_puts_pinned_first = staticmethod(
        store_tests.test_list_spaces_filters_pages_and_puts_pinned_first)
    test_private_spaces_are_hidden_unless_asked_or_owned = staticmethod(
        store_tests.test_private_spaces_are_hidden_unless_asked_or_owned)


class TestRecords:
    """tests/unit/test_store_records.py: builds, secrets, variables, share links, cascades."""

    @pytest.fixture
    def db(self, db: Database) -> Database:
        # As that module's fixture: its tests work on one existing Space.
        with db.session() as s:
            create_space(s, record_tests.SID, sdk=Sdk.GRADIO)
        return db

    test_build_lifecycle = staticmethod(record_tests.test_build_lifecycle)
    test_latest_list_and_superseded_builds = staticmethod(
        record_tests.test_latest_list_and_superseded_builds)
    test_huge_logs_keep_their_end = staticmethod(record_tests.test_huge_logs_keep_their_end)
    test_secrets_are_encrypted_at_rest = staticmethod(
        record_tests.test_secrets_are_encrypted_at_rest)
    test_a_configured_key_is_used_and_a_wrong_key_cannot_decrypt = staticmethod(
        record_tests.test_a_configured_key_is_used_and_a_wrong_key_cannot_decrypt)
    test_bad_secret_and_variable_names_are_refused = staticmethod(
        record_tests.test_bad_secret_and_variable_names_are_refused)
    test_variables_are_plain_and_do_not_share_names_with_secrets = staticmethod(
        record_tests.test_variables_are_plain_and_do_not_share_names_with_secrets)
    test_share_link_counts_views_up_to_its_limit = staticmethod(
        record_tests.test_share_link_counts_views_up_to_its_limit)
    test_share_link_expiry_revocation_and_scope = staticmethod(
        record_tests.test_share_link_expiry_revocation_and_scope)
    test_concurrent_viewers_cannot_exceed_max_views = staticmethod(
        record_tests.test_concurrent_viewers_cannot_exceed_max_views)
    test_deleting_a_space_removes_everything_it_owns = staticmethod(
        record_tests.test_deleting_a_space_removes_everything_it_owns)
    test_the_database_itself_cascades = staticmethod(
        record_tests.test_the_database_itself_cascades)


# --- what only PostgreSQL can get wrong ------------------------------------------------


def test_processes_migrating_together_queue_on_the_advisory_lock(
    settings: Settings, database_url: str
) -> None:
    """Holding the lock ourselves, three migrating processes must all be seen waiting on it
    (the shared test cannot tell: its processes rarely overlap); released, one migrates and
    the others find the schema at head."""
    script = (
        "import sys; from pathlib import Path; from podium.config import Settings; "
        "from podium.store import Database; "
        "Database(Settings(data_dir=Path(sys.argv[1]))).migrate()"
    )
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND ((classid::bigint << 32) | objid::bigint) = :key"
    )
    holder = create_engine(database_url, isolation_level="AUTOCOMMIT")
    procs: list[subprocess.Popen[str]] = []
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_MIGRATE_LOCK})
            procs = [
                subprocess.Popen([sys.executable, "-c", script, str(settings.data_dir)],
                                 stderr=subprocess.PIPE, text=True)
                for _ in range(3)
            ]
            while conn.execute(waiting, {"key": _PG_MIGRATE_LOCK}).scalar() != 3:
                # A process that ends before it queued migrated past the lock, or failed.
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                time.sleep(0.05)
            assert conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATE_LOCK})
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        holder.dispose()
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    db = Database(settings)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert db.current_revision() is not None
    finally:
        db.dispose()
