"""The store on a real SQLite file: builds, secrets and variables, share links, cascades."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update

from podium.config import Settings
from podium.errors import AlreadyExists, BadRequest, Forbidden, NotFound, PodiumError
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Sdk
from podium.store import (
    Build,
    Cipher,
    Database,
    Secret,
    ShareLink,
    Space,
    Variable,
    create_build,
    create_share_link,
    create_space,
    delete_secret,
    delete_space,
    delete_variable,
    get_build,
    get_space,
    latest_build,
    list_builds,
    list_secret_keys,
    list_share_links,
    list_variables,
    mark_finished,
    mark_started,
    revoke_share_link,
    secret_values,
    set_secret,
    set_variable,
    use_share_link,
    utcnow,
)
from podium.store.builds import MAX_STORED_LOG_CHARS

SID = SpaceId("alice", "demo")


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    database.migrate()
    with database.session() as s:
        create_space(s, SID, sdk=Sdk.GRADIO)
    yield database
    database.dispose()


def db_bytes(settings: Settings) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("podium.db*")))


# --- builds ----------------------------------------------------------------------------


def test_build_lifecycle(db: Database) -> None:
    with db.session() as s:
        space = get_space(s, SID)
        build = create_build(s, space, "a" * 40, factory=True, job_id="job-1")
        build_id = build.id
    assert len(build_id) == 32 and build.status == BuildStatus.QUEUED
    with db.session() as s:
        build = get_build(s, build_id)
        assert (build.factory, build.job_id, build.started_at) == (True, "job-1", None)
        mark_started(s, build)
    with db.session() as s:
        build = get_build(s, build_id)
        assert build.status == BuildStatus.BUILDING and build.started_at.tzinfo is not None
        with pytest.raises(BadRequest):
            mark_finished(s, build, BuildStatus.BUILDING)
        mark_finished(s, build, BuildStatus.SUCCEEDED, image="podium-space/x:abc", log="ok\n")
    with db.session() as s:
        build = get_build(s, build_id)
        assert (build.status, build.image, build.log) == (
            BuildStatus.SUCCEEDED, "podium-space/x:abc", "ok\n"
        )
        expected = (build.finished_at - build.started_at).total_seconds()
        assert build.duration_s == pytest.approx(expected) and build.duration_s >= 0
        with pytest.raises(BadRequest):
            mark_started(s, build)
        with pytest.raises(NotFound):
            get_build(s, "0" * 32)


def test_latest_and_listed_builds(db: Database) -> None:
    with db.session() as s:
        space = get_space(s, SID)
        create_build(s, space, "1" * 40)
        running = create_build(s, space, "2" * 40)
        mark_started(s, running)
        create_build(s, space, "3" * 40)
        newest = create_build(s, space, "4" * 40)
        assert latest_build(s, space).id == newest.id
        assert [b.commit[0] for b in list_builds(s, space, limit=3)] == ["4", "3", "2"]


def test_huge_logs_keep_their_end(db: Database) -> None:
    lines = [f"line {i:08d}" for i in range(MAX_STORED_LOG_CHARS // 10)]
    lines.append("ERROR: the real failure")
    with db.session() as s:
        build = create_build(s, get_space(s, SID), "f" * 40)
        mark_finished(s, build, BuildStatus.FAILED, log="\n".join(lines), failure_reason="pip")
    with db.session() as s:
        log = get_build(s, build.id).log or ""
    assert len(log) <= MAX_STORED_LOG_CHARS + 100
    assert log.endswith("ERROR: the real failure")
    assert "earlier characters of the log were dropped" in log.splitlines()[0]
    assert log.splitlines()[1].startswith("line ")  # a whole line, not a cut one


# --- secrets ---------------------------------------------------------------------------


def test_secrets_are_encrypted_at_rest(db: Database, settings: Settings) -> None:
    value = "hf_sUp3r-s3cret-" + Fernet.generate_key().decode()
    cipher = Cipher(settings)
    with db.session() as s:
        space = get_space(s, SID)
        set_secret(s, cipher, space, "HF_TOKEN", value)
        set_secret(s, cipher, space, "OPENAI_KEY", "first")
        set_secret(s, cipher, space, "OPENAI_KEY", "second")  # overwrite, not a new row
    stored = db_bytes(settings)
    assert b"HF_TOKEN" in stored  # the scan sees the rows
    assert value.encode() not in stored and b"second" not in stored

    key_file = settings.data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = Cipher(settings)  # another process over the same data_dir
    with db.session() as s:
        space = get_space(s, SID)
        assert list_secret_keys(s, space) == ["HF_TOKEN", "OPENAI_KEY"]
        assert secret_values(s, again, space) == {"HF_TOKEN": value, "OPENAI_KEY": "second"}
        delete_secret(s, space, "OPENAI_KEY")
        with pytest.raises(NotFound):
            delete_secret(s, space, "OPENAI_KEY")
        assert list_secret_keys(s, space) == ["HF_TOKEN"]


def test_a_configured_key_is_used_and_a_wrong_key_cannot_decrypt(
    db: Database, settings: Settings
) -> None:
    key = Fernet.generate_key().decode()
    configured = settings.model_copy(update={"secret_key": key})
    cipher = Cipher(configured)
    assert not (settings.data_dir / "secret.key").exists()
    with db.session() as s:
        set_secret(s, cipher, get_space(s, SID), "TOKEN", "v")
    with db.session() as s:
        space = get_space(s, SID)
        assert Fernet(key).decrypt(s.scalar(select(Secret.value_encrypted)).encode()) == b"v"
        with pytest.raises(PodiumError, match="cannot decrypt"):
            secret_values(s, Cipher(settings), space)  # a generated, different key
        newer = Fernet.generate_key().decode()
        rotated = settings.model_copy(update={"secret_key": f"{newer},{key}"})
        assert secret_values(s, Cipher(rotated), space) == {"TOKEN": "v"}
    with pytest.raises(PodiumError, match="not a valid Fernet key"):
        Cipher(settings.model_copy(update={"secret_key": "too-short"}))


@pytest.mark.parametrize("key", ["1ABC", "MY-KEY", "", "A" * 129, "SPACE_ID", "podium_x", "PATH"])
def test_bad_secret_and_variable_names_are_refused(
    db: Database, settings: Settings, key: str
) -> None:
    with db.session() as s:
        space = get_space(s, SID)
        with pytest.raises(BadRequest):
            set_secret(s, Cipher(settings), space, key, "v")
        with pytest.raises(BadRequest):
            set_variable(s, space, key, "v")


def test_variables_are_plain_and_do_not_share_names_with_secrets(
    db: Database, settings: Settings
) -> None:
    with db.session() as s:
        space = get_space(s, SID)
        set_variable(s, space, "MODEL_ID", "gpt2", "which model to load")
        set_variable(s, space, "MODEL_ID", "distilgpt2")
        set_variable(s, space, "A_FLAG", "1")
        set_secret(s, Cipher(settings), space, "API_KEY", "k")
        with pytest.raises(AlreadyExists):
            set_secret(s, Cipher(settings), space, "MODEL_ID", "x")
        with pytest.raises(AlreadyExists):
            set_variable(s, space, "API_KEY", "x")
    with db.session() as s:
        space = get_space(s, SID)
        assert [(v.key, v.value) for v in list_variables(s, space)] == [
            ("A_FLAG", "1"), ("MODEL_ID", "distilgpt2")
        ]
        delete_variable(s, space, "A_FLAG")
        with pytest.raises(NotFound):
            delete_variable(s, space, "A_FLAG")
        assert [v.key for v in list_variables(s, space)] == ["MODEL_ID"]


# --- share links -----------------------------------------------------------------------


def test_share_link_counts_views_up_to_its_limit(db: Database, settings: Settings) -> None:
    with db.session() as s:
        plaintext, link = create_share_link(s, get_space(s, SID), created_by="alice", max_views=2)
    assert plaintext.encode() not in db_bytes(settings)
    for expected in (1, 2):
        with db.session() as s:
            assert use_share_link(s, get_space(s, SID), plaintext).views == expected
    with pytest.raises(Forbidden, match="maximum"), db.session() as s:
        use_share_link(s, get_space(s, SID), plaintext)
    with db.session() as s:
        assert s.get(ShareLink, link.id).views == 2


def test_share_link_expiry_revocation_and_scope(db: Database) -> None:
    with db.session() as s:
        space = get_space(s, SID)
        other = create_space(s, SpaceId("bob", "other"), sdk=Sdk.STREAMLIT)
        expiring, exp_link = create_share_link(
            s, space, created_by="alice", expires_at=utcnow() + timedelta(hours=1)
        )
        revoked, rev_link = create_share_link(s, space, created_by="alice")
        with pytest.raises(BadRequest):
            create_share_link(s, space, created_by="alice", expires_at=utcnow() - timedelta(1))
        with pytest.raises(BadRequest):
            create_share_link(s, space, created_by="alice", max_views=0)
    with db.session() as s:
        space = get_space(s, SID)
        assert use_share_link(s, space, expiring).views == 1
        # Age the link in the database rather than waiting for it.
        s.execute(update(ShareLink).where(ShareLink.id == exp_link.id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(Forbidden, match="expired"), db.session() as s:
        use_share_link(s, get_space(s, SID), expiring)
    with db.session() as s:
        space = get_space(s, SID)
        with pytest.raises(Forbidden, match="not valid"):
            use_share_link(s, s.merge(other), revoked)  # a link opens only its own Space
        with pytest.raises(NotFound):
            revoke_share_link(s, s.merge(other), rev_link.id)
        revoke_share_link(s, space, rev_link.id)
    with pytest.raises(Forbidden, match="revoked"), db.session() as s:
        use_share_link(s, get_space(s, SID), revoked)
    with db.session() as s:
        space = get_space(s, SID)
        assert [link.id for link in list_share_links(s, space)] == [exp_link.id]
        assert len(list_share_links(s, space, include_revoked=True)) == 2
        with pytest.raises(Forbidden):
            use_share_link(s, space, "shr_" + "x" * 43)


def test_concurrent_viewers_cannot_exceed_max_views(db: Database) -> None:
    with db.session() as s:
        plaintext, link = create_share_link(s, get_space(s, SID), created_by="alice", max_views=5)

    def view(_: int) -> bool:
        try:
            with db.session() as s:
                use_share_link(s, get_space(s, SID), plaintext)
            return True
        except Forbidden:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(view, range(24)))
    assert results.count(True) == 5
    with db.session() as s:
        assert s.get(ShareLink, link.id).views == 5


# --- cascades --------------------------------------------------------------------------


def test_deleting_a_space_removes_everything_it_owns(db: Database, settings: Settings) -> None:
    with db.session() as s:
        space = get_space(s, SID)
        create_build(s, space, "a" * 40)
        set_secret(s, Cipher(settings), space, "TOKEN", "v")
        set_variable(s, space, "MODEL", "m")
        create_share_link(s, space, created_by="alice")
    with db.session() as s:
        counts = [s.scalar(select(func.count()).select_from(m)) for m in
                  (Space, Build, Secret, Variable, ShareLink)]
        assert counts == [1, 1, 1, 1, 1]
        delete_space(s, get_space(s, SID))
    with db.session() as s:
        counts = [s.scalar(select(func.count()).select_from(m)) for m in
                  (Space, Build, Secret, Variable, ShareLink)]
        assert counts == [0, 0, 0, 0, 0]


def test_the_database_itself_cascades(db: Database, settings: Settings) -> None:
    """Another process deleting with plain SQL (no ORM relationships) still leaves no orphans:
    the cascade lives in the schema and SQLite enforces it because foreign keys are on."""
    with db.session() as s:
        space = get_space(s, SID)
        create_build(s, space, "a" * 40)
        set_variable(s, space, "MODEL", "m")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM spaces")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Build)) == 0
        assert s.scalar(select(func.count()).select_from(Variable)) == 0
