"""The store on a real SQLite file: migrations, users, tokens, Spaces."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from podium.config import Settings
from podium.errors import AlreadyExists, BadRequest, InvalidName, NotFound, Unauthorized
from podium.names import SpaceId
from podium.spaces.stage import Sdk, Stage
from podium.store import (
    ApiToken,
    Base,
    Database,
    Space,
    TokenScope,
    User,
    authenticate,
    create_space,
    create_token,
    create_user,
    ensure_admin,
    get_space,
    list_spaces,
    list_tokens,
    revoke_token,
    set_stage,
    update_space,
    verify_token,
)
from podium.store.db import MIGRATIONS_DIR
from podium.store.users import hash_token

PASSWORD = "correct horse battery"


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    database.migrate()
    yield database
    database.dispose()


def db_bytes(settings: Settings) -> bytes:
    """Every byte SQLite keeps on disk for the database (main file, WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("podium.db*")))


# --- schema ----------------------------------------------------------------------------


def test_migrate_yields_the_models_schema_and_is_idempotent(db: Database) -> None:
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    assert db.current_revision() == head
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []
    db.migrate()
    assert db.current_revision() == head


def test_migrate_and_create_all_give_the_same_columns(db: Database, tmp_path: Path) -> None:
    other = Database(Settings(data_dir=tmp_path / "other"))
    other.create_all()
    try:
        migrated, created = inspect(db.engine), inspect(other.engine)
        tables = set(created.get_table_names())
        assert tables == set(Base.metadata.tables)
        assert set(migrated.get_table_names()) == tables | {"alembic_version"}
        for table in tables:
            def columns(insp, table=table):  # type: ignore[no-untyped-def]
                return {(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)}
            assert columns(migrated) == columns(created), table
            assert (
                sorted(str(u["column_names"]) for u in migrated.get_unique_constraints(table))
                == sorted(str(u["column_names"]) for u in created.get_unique_constraints(table))
            ), table
    finally:
        other.dispose()


def test_processes_starting_together_migrate_once(settings: Settings) -> None:
    """api, worker and proxy all call migrate() at start on one fresh SQLite file."""
    script = (
        "import sys; from pathlib import Path; from podium.config import Settings; "
        "from podium.store import Database; "
        "Database(Settings(data_dir=Path(sys.argv[1]))).migrate()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(settings.data_dir)],
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    db = Database(settings)
    try:
        head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
        assert db.current_revision() == head
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        db.dispose()


def test_migrations_ship_as_packages() -> None:
    from setuptools import find_packages

    root = Path(__file__).resolve().parents[2] / "platform"
    packages = set(find_packages(str(root), include=["podium*"]))
    assert {"podium.store.migrations", "podium.store.migrations.versions"} <= packages
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()  # *.mako is in package-data


def test_sqlite_runs_in_wal_with_foreign_keys(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() > 0


def test_naive_datetimes_are_refused(db: Database) -> None:
    from datetime import datetime

    with pytest.raises(Exception, match="naive datetime"), db.session() as s:
        space = create_space(s, SpaceId("alice", "demo"), sdk=Sdk.GRADIO)
        space.last_access_at = datetime(2024, 1, 1)
        s.flush()


# --- users -----------------------------------------------------------------------------


def test_users_are_argon2_hashed_and_authenticate(db: Database, settings: Settings) -> None:
    with db.session() as s:
        create_user(s, "Alice", PASSWORD, email="a@example.org")
    with db.session() as s:
        user = authenticate(s, "alice", PASSWORD)
        assert user.username == "Alice"
        assert user.password_hash.startswith("$argon2id$")
        assert not user.is_admin
        with pytest.raises(Unauthorized):
            authenticate(s, "Alice", PASSWORD + "x")
        with pytest.raises(Unauthorized):
            authenticate(s, "nobody", PASSWORD)
    assert PASSWORD.encode() not in db_bytes(settings)


def test_usernames_are_unique_case_insensitively(db: Database) -> None:
    with db.session() as s:
        create_user(s, "Alice", PASSWORD)
    with pytest.raises(AlreadyExists), db.session() as s:
        create_user(s, "aLiCe", PASSWORD)
    with db.session() as s:
        assert s.scalar(select(User.username)) == "Alice"
        assert len(s.scalars(select(User)).all()) == 1


def test_bad_usernames_and_passwords_are_refused(db: Database) -> None:
    with db.session() as s:
        with pytest.raises(InvalidName):
            create_user(s, "-bad-", PASSWORD)
        with pytest.raises(InvalidName):
            create_user(s, "api", PASSWORD)
        with pytest.raises(BadRequest):
            create_user(s, "bob", "short")


def test_ensure_admin_bootstraps_once(db: Database, settings: Settings) -> None:
    with db.session() as s:
        assert ensure_admin(s, settings) is None  # no password configured: nobody created
        assert s.scalar(select(User)) is None
    configured = settings.model_copy(update={"admin_user": "root", "admin_password": PASSWORD})
    with db.session() as s:
        admin = ensure_admin(s, configured)
        assert admin is not None and admin.is_admin and admin.username == "root"
    with db.session() as s:
        assert ensure_admin(s, configured) is None
        assert authenticate(s, "root", PASSWORD).is_admin


# --- tokens ----------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_verify(db: Database, settings: Settings) -> None:
    with db.session() as s:
        user = create_user(s, "alice", PASSWORD)
        plaintext, token = create_token(s, user, "laptop")
        token_id = token.id
    assert plaintext.startswith("pod_") and len(plaintext) > 40
    assert token.prefix == plaintext[: len(token.prefix)]
    stored = db_bytes(settings)
    assert hash_token(plaintext).encode() in stored  # the scan does see what is stored
    assert plaintext.encode() not in stored
    with db.session() as s:
        found, tok = verify_token(s, plaintext)
        assert (found.username, tok.id, tok.scopes) == ("alice", token_id, TokenScope.WRITE)
        assert tok.last_used_at is not None and tok.last_used_at.tzinfo is not None
        with pytest.raises(Unauthorized):
            verify_token(s, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"))
        with pytest.raises(Unauthorized):
            verify_token(s, "not-a-token")


def test_revoked_tokens_no_longer_verify(db: Database) -> None:
    with db.session() as s:
        alice = create_user(s, "alice", PASSWORD)
        bob = create_user(s, "bob", PASSWORD)
        keep, _ = create_token(s, alice, "ci", scope="read")
        gone, token = create_token(s, alice, "old")
        with pytest.raises(NotFound):
            revoke_token(s, bob, token.id)  # only the owner may revoke
        revoke_token(s, alice, token.id)
    with db.session() as s:
        with pytest.raises(Unauthorized, match="revoked"):
            verify_token(s, gone)
        user, tok = verify_token(s, keep)
        assert tok.allows("read") and not tok.allows("write")
        assert [t.name for t in list_tokens(s, user)] == ["ci"]
        assert {t.name for t in list_tokens(s, user, include_revoked=True)} == {"ci", "old"}
        assert s.scalar(select(ApiToken).where(ApiToken.name == "old")).revoked_at is not None
    with db.session() as s, pytest.raises(BadRequest):
        create_token(s, user, "x", scope="admin")


# --- spaces ----------------------------------------------------------------------------


def test_space_create_get_and_stage(db: Database) -> None:
    sid = SpaceId("Alice", "My_Demo")
    with db.session() as s:
        space = create_space(s, sid, sdk="gradio", title="Hello", emoji="👋")
        assert (space.key, space.subdomain) == (sid.key, sid.subdomain)
    with db.session() as s:
        space = get_space(s, SpaceId("alice", "my_demo"))
        assert (space.owner, space.name, space.sdk, space.stage) == (
            "Alice", "My_Demo", Sdk.GRADIO, Stage.NO_APP_FILE
        )
        assert space.space_id == sid and not space.private
        set_stage(s, space, Stage.BUILD_ERROR, "build failed", "pip said no")
    with db.session() as s:
        space = get_space(s, sid)
        assert (space.stage, space.stage_message, space.error_detail) == (
            Stage.BUILD_ERROR, "build failed", "pip said no"
        )
        assert s.execute(text("SELECT stage, sdk FROM spaces")).one() == ("BUILD_ERROR", "gradio")
        with pytest.raises(NotFound):
            get_space(s, SpaceId("alice", "missing"))
        with pytest.raises(BadRequest):
            update_space(s, space, key="bob/x")
        with pytest.raises(BadRequest):
            create_space(s, SpaceId("alice", "other"), sdk="flask")


def test_same_key_in_another_case_is_refused(db: Database) -> None:
    with db.session() as s:
        create_space(s, SpaceId("alice", "demo"), sdk=Sdk.GRADIO)
    with pytest.raises(AlreadyExists, match="alice/demo already exists"), db.session() as s:
        create_space(s, SpaceId("ALICE", "Demo"), sdk=Sdk.STREAMLIT)


def test_subdomain_clash_is_refused_with_a_clear_message(db: Database) -> None:
    first, second = SpaceId("alice-x", "demo"), SpaceId("alice", "x-demo")
    assert first.subdomain == second.subdomain and first.key != second.key
    with db.session() as s:
        create_space(s, first, sdk=Sdk.GRADIO)
    with pytest.raises(AlreadyExists) as caught, db.session() as s:
        create_space(s, second, sdk=Sdk.GRADIO)
    assert "alice-x/demo" in caught.value.message and first.subdomain in caught.value.message
    assert caught.value.hint
    with db.session() as s:
        assert list_spaces(s)[1] == 1


def test_list_spaces_filters_pages_and_puts_pinned_first(db: Database) -> None:
    owners, sdks = ["alice", "bob", "carol"], [Sdk.GRADIO, Sdk.STREAMLIT]
    pinned = {7, 55, 101}
    with db.session() as s:
        for i in range(120):
            space = create_space(
                s, SpaceId(owners[i % 3], f"space-{i}"), sdk=sdks[i % 2],
                title=f"Demo {i}" + (" of a cat classifier" if i % 10 == 0 else ""),
                pinned=i in pinned,
            )
            if i % 4 == 0:
                set_stage(s, space, Stage.RUNNING)
    with db.session() as s:
        seen: list[Space] = []
        for offset in range(0, 150, 50):
            page, total = list_spaces(s, offset=offset, limit=50)
            assert total == 120
            seen.extend(page)
        assert len(seen) == 120 and len({sp.id for sp in seen}) == 120
        assert {sp.name for sp in seen[:3]} == {f"space-{i}" for i in pinned}
        rest = seen[3:]
        assert all(not sp.pinned for sp in rest)
        assert all(a.updated_at >= b.updated_at for a, b in zip(rest, rest[1:], strict=False))

        page, total = list_spaces(s, owner="BOB", limit=200)
        assert total == 40 and {sp.owner for sp in page} == {"bob"}
        page, total = list_spaces(s, sdk="streamlit", owner="alice")
        assert total == 20 and all(sp.sdk == Sdk.STREAMLIT and sp.owner == "alice" for sp in page)
        page, total = list_spaces(s, stage=Stage.RUNNING)
        assert total == 30 and all(sp.stage == Stage.RUNNING for sp in page)
        page, total = list_spaces(s, search="CAT classif")
        assert total == 12 and all("cat" in (sp.title or "") for sp in page)
        assert list_spaces(s, search="space-11")[1] == 11  # 11 and 110..119
        assert list_spaces(s, search="%")[1] == 0  # wildcards are literal

        oldest = list_spaces(s, offset=119, limit=1)[0][0]
        update_space(s, oldest, short_description="fresh")
        assert list_spaces(s, limit=4)[0][3].id == oldest.id  # right after the pinned ones


def test_private_spaces_are_hidden_unless_asked_or_owned(db: Database) -> None:
    with db.session() as s:
        create_space(s, SpaceId("alice", "public"), sdk=Sdk.GRADIO)
        create_space(s, SpaceId("alice", "secret"), sdk=Sdk.GRADIO, private=True)
        create_space(s, SpaceId("bob", "hidden"), sdk=Sdk.GRADIO, private=True)
    with db.session() as s:
        def names(**kw: object) -> set[str]:
            return {sp.name for sp in list_spaces(s, **kw)[0]}  # type: ignore[arg-type]

        assert names() == {"public", "secret", "hidden"}
        assert names(include_private=False) == {"public"}
        assert names(include_private=False, viewer="Alice") == {"public", "secret"}
