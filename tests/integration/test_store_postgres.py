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
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from podium.config import Settings
from podium.errors import BadRequest, Unauthorized
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Sdk, Stage
from podium.store import (
    Cipher,
    Database,
    Space,
    authenticate,
    create_build,
    create_space,
    create_token,
    create_user,
    get_build,
    get_space,
    list_spaces,
    mark_finished,
    set_secret,
    set_stage,
    set_variable,
    update_space,
)
from podium.store.db import _PG_MIGRATE_LOCK
from tests.unit import test_store as store_tests
from tests.unit import test_store_records as record_tests

PASSWORD = store_tests.PASSWORD


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
    test_latest_and_listed_builds = staticmethod(
        record_tests.test_latest_and_listed_builds)
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


def test_datetimes_are_instants_whatever_the_server_timezone(settings: Settings) -> None:
    """Columns are timestamptz, and a server or session in another timezone (here UTC-3:30)
    still reads back the same instant, in UTC."""
    url = make_url(settings.database_url).update_query_dict({"options": "-c timezone=-03:30"})
    local = settings.model_copy(update={
        "database_url": url.render_as_string(hide_password=False)})
    db = Database(local)
    at = datetime(2024, 3, 1, 23, 45, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    try:
        db.migrate()
        with db.engine.connect() as conn:
            types = set(conn.scalars(text(
                "SELECT DISTINCT data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND data_type LIKE 'timestamp%'"
            )))
            # Enums are VARCHARs of their values, not PostgreSQL ENUM types.
            assert conn.scalar(text("SELECT count(*) FROM pg_type WHERE typtype = 'e'")) == 0
        assert types == {"timestamp with time zone"}
        with db.session() as s:
            create_space(s, SpaceId("alice", "tz"), sdk=Sdk.GRADIO, last_access_at=at)
        with db.session() as s:
            stored = get_space(s, SpaceId("alice", "tz")).last_access_at
            assert stored == at and stored.utcoffset() == timedelta(0)
            raw = s.scalar(text("SELECT last_access_at AT TIME ZONE 'UTC' FROM spaces"))
            assert raw == at.astimezone(UTC).replace(tzinfo=None)
    finally:
        db.dispose()


# --- the same limits on both backends --------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Database]:
    """SQLite keeps what PostgreSQL refuses: these tests pin that both behave as one."""
    if request.param == "sqlite":
        settings = settings.model_copy(update={"database_url": ""})
    database = Database(settings)
    assert database.engine.dialect.name == request.param
    database.migrate()
    with database.session() as s:
        create_space(s, record_tests.SID, sdk=Sdk.GRADIO)
    yield database
    database.dispose()


def test_long_card_text_is_cut_and_other_long_fields_are_refused(any_db: Database) -> None:
    limits = {name: Space.__table__.c[name].type.length
              for name in ("title", "emoji", "short_description")}
    with any_db.session() as s:
        # Front matter of any length reaches the store on push; the card keeps what fits.
        update_space(s, get_space(s, record_tests.SID), title="T" * 1000, emoji="🤗" * 40,
                     short_description="d\x00" * 400)
    with any_db.session() as s:
        space = get_space(s, record_tests.SID)
        assert (space.title, space.emoji, space.short_description) == (
            "T" * limits["title"], "🤗" * limits["emoji"], "d" * limits["short_description"])
    with pytest.raises(BadRequest, match="memory_limit is longer than 16"), \
            any_db.session() as s:
        update_space(s, get_space(s, record_tests.SID), memory_limit="9" * 17)
    with pytest.raises(BadRequest, match="email is longer than 254"), any_db.session() as s:
        create_user(s, "bob", PASSWORD, email="b" * 250 + "@x.org")


def test_nul_characters_never_reach_the_database(any_db: Database, settings: Settings) -> None:
    with any_db.session() as s:
        space = get_space(s, record_tests.SID)
        with pytest.raises(BadRequest, match="NUL"):
            set_variable(s, space, "MODEL", "gpt\x002")
        with pytest.raises(BadRequest, match="NUL"):
            set_secret(s, Cipher(settings), space, "TOKEN", "a\x00b")
        assert list_spaces(s, search="de\x00mo") == ([], 0)
        with pytest.raises(Unauthorized):
            authenticate(s, "alice\x00", PASSWORD)
        # Program output is kept, with the NULs made visible.
        build = create_build(s, space, "a" * 40)
        mark_finished(s, build, BuildStatus.FAILED, log="out\x00put", failure_reason="x\x00")
        set_stage(s, space, Stage.RUNTIME_ERROR, "exit 1", "last line\x00")
    with pytest.raises(BadRequest, match="name cannot contain NUL"), any_db.session() as s:
        create_token(s, create_user(s, "bob", PASSWORD), "lap\x00top")
    with any_db.session() as s:
        build = get_build(s, build.id)
        assert (build.log, build.failure_reason) == ("out\ufffdput", "x\ufffd")
        assert get_space(s, record_tests.SID).error_detail == "last line\ufffd"
