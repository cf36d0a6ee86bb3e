"""podium.backup on its own: a data dir made by the store and git (no services), backed up,
restored into another, read back. The whole round trip with a running platform is
tests/integration/test_backup_restore.py."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from podium.backup import ArchiveError, restore_backup, write_backup
from podium.backup.rebuilds import INTERRUPTED
from podium.builds.catchup import unbuilt_heads
from podium.config import Settings
from podium.gitserver.lfsstore import LfsStore
from podium.gitserver.repo import head_commit, init_from_template, read_file
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Stage
from podium.store import (
    Cipher,
    create_build,
    create_space,
    create_token,
    create_user,
    get_space,
    list_builds,
    mark_finished,
    mark_started,
    secret_values,
    set_secret,
    set_stage,
    verify_token,
)
from podium.store.db import Database

SPACE = SpaceId("alice", "demo")
EMPTY = SpaceId("alice", "empty")
LFS_BYTES = b"large file contents\n" * 100


def _settings(path: Path, **extra: object) -> Settings:
    return Settings(data_dir=path, redis_url="", database_url="", push_handler="", **extra)


def populate(settings: Settings, tmp_path: Path) -> str:
    """A user, a token, a Space with commits, a secret, an LFS object, a build of its head
    and one still queued, and an empty Space; returns the token."""
    settings.ensure_dirs()
    db = Database(settings)
    db.migrate()
    template = tmp_path / "template"
    template.mkdir(exist_ok=True)
    (template / "README.md").write_text("---\nsdk: static\n---\n")
    (template / "index.html").write_text("<p>hi</p>\n")
    with db.session() as session:
        user = create_user(session, "alice", "alice-password-123")
        token, _ = create_token(session, user, "laptop")
        create_space(session, EMPTY, sdk="static")
        space = create_space(session, SPACE, sdk="static")
        set_secret(session, Cipher(settings), space, "API_KEY", "s3cret-value")
    head = init_from_template(settings, SPACE, template, author="alice")
    oid = hashlib.sha256(LFS_BYTES).hexdigest()
    stored = LfsStore(SPACE.repo_path(settings.repos_dir)).path(oid)
    stored.parent.mkdir(parents=True)
    stored.write_bytes(LFS_BYTES)
    with db.session() as session:
        space = get_space(session, SPACE)
        space.head_commit = head
        space.deployed_commit, space.deployed_image = head, "podium-space/alice--demo:old"
        set_stage(session, space, Stage.RUNNING)
        done = create_build(session, space, head)
        mark_started(session, done)
        mark_finished(session, done, BuildStatus.SUCCEEDED, image="podium-space/x:1")
        create_build(session, space, "f" * 40)  # queued when the backup is taken
    db.dispose()
    return token


def check_restored(target: Settings, token: str) -> None:
    """What ``populate`` made, read back from a restored data dir."""
    db = Database(target)
    try:
        with db.session() as session:
            assert verify_token(session, token)[0].username == "alice"
            space = get_space(session, SPACE)
            assert secret_values(session, Cipher(target), space) == {"API_KEY": "s3cret-value"}
            assert space.stage == Stage.BUILDING and space.deployed_image is None
            head = head_commit(target, SPACE)
            assert head is not None and space.head_commit == head
            builds = list_builds(session, space)
            assert [b.status for b in builds] == [BuildStatus.CANCELLED]
            assert builds[0].failure_reason == INTERRUPTED
        # The worker's catch-up pass will build exactly the restored head.
        assert unbuilt_heads(db) == [(SPACE, head)]
    finally:
        db.dispose()
    assert read_file(target, SPACE, head, "index.html") == b"<p>hi</p>\n"
    assert LfsStore(SPACE.repo_path(target.repos_dir)).has(hashlib.sha256(LFS_BYTES).hexdigest())


@pytest.fixture
def source(tmp_path: Path) -> tuple[Settings, str]:
    settings = _settings(tmp_path / "a")
    return settings, populate(settings, tmp_path)


def test_round_trip_restores_store_repos_lfs_and_secrets_and_hands_heads_to_catch_up(
    source: tuple[Settings, str], tmp_path: Path,
) -> None:
    settings, token = source
    archive = tmp_path / "backup.tar.gz"
    report = write_backup(settings, archive)
    assert report.manifest.counts["spaces"] == 2
    assert report.manifest.counts["lfs_objects"] == 1
    assert report.manifest.secret_key == "file"
    target = _settings(tmp_path / "b", instance="other")
    restored = restore_backup(target, archive)
    assert restored.handover.rebuilding == [str(SPACE)]
    assert restored.handover.without_commit == [str(EMPTY)]
    assert restored.handover.cancelled == 1
    assert not (target.data_dir / ".restoring").exists()
    check_restored(target, token)
    key = target.secret_key_file
    assert key.read_text() == settings.secret_key_file.read_text()
    assert key.stat().st_mode & 0o077 == 0
    assert archive.stat().st_mode & 0o077 == 0


def test_manifest_lists_every_member_with_its_checksum(
    source: tuple[Settings, str], tmp_path: Path,
) -> None:
    settings, _ = source
    archive = tmp_path / "backup.tar"
    write_backup(settings, archive)
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members.pop("manifest.json"))
    assert set(manifest["files"]) == set(members)
    for name, data in members.items():
        assert manifest["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(),
                                           "size": len(data)}, name
    assert {"database/podium.db", "secret.key", f"repos/{SPACE}.bundle"} <= set(members)
    assert manifest["spaces"][1]["head"] == head_commit(settings, SPACE)


def test_restore_refuses_a_non_empty_data_dir_and_changes_nothing(
    source: tuple[Settings, str], tmp_path: Path,
) -> None:
    settings, _ = source
    archive = tmp_path / "backup.tar"
    write_backup(settings, archive)
    target = _settings(tmp_path / "b")
    target.data_dir.mkdir()
    (target.data_dir / "notes.txt").write_text("mine")
    with pytest.raises(ArchiveError, match="not empty.*notes.txt"):
        restore_backup(target, archive)
    assert [p.name for p in target.data_dir.iterdir()] == ["notes.txt"]
    assert (target.data_dir / "notes.txt").read_text() == "mine"
    # The source's own data dir is not empty either: a restore over it is refused.
    before = sorted(p.name for p in settings.data_dir.iterdir())
    with pytest.raises(ArchiveError, match="not empty"):
        restore_backup(settings, archive)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == before


def test_a_truncated_archive_gives_a_clear_error_and_leaves_the_target_empty(
    source: tuple[Settings, str], tmp_path: Path,
) -> None:
    settings, _ = source
    for name in ("backup.tar", "backup.tar.gz"):
        archive = tmp_path / name
        write_backup(settings, archive)
        data = archive.read_bytes()
        archive.write_bytes(data[: len(data) // 2])
        target = _settings(tmp_path / f"b-{name}")
        with pytest.raises(ArchiveError, match="truncated") as caught:
            restore_backup(target, archive)
        assert "nothing was restored" in (caught.value.hint or "")
        assert not target.data_dir.exists()


def test_a_corrupt_member_fails_its_checksum(
    source: tuple[Settings, str], tmp_path: Path,
) -> None:
    settings, _ = source
    archive = tmp_path / "backup.tar"
    write_backup(settings, archive)
    with tarfile.open(archive) as tar:
        member = tar.getmember("database/podium.db")
    data = bytearray(archive.read_bytes())
    data[member.offset_data + 200] ^= 0xFF  # one bit rot inside the database copy
    archive.write_bytes(bytes(data))
    target = _settings(tmp_path / "b")
    target.data_dir.mkdir()
    with pytest.raises(ArchiveError, match="database/podium.db.*checksum"):
        restore_backup(target, archive)
    assert list(target.data_dir.iterdir()) == []


def test_a_key_from_the_environment_is_not_archived_and_must_be_given_back(
    tmp_path: Path,
) -> None:
    key = Fernet.generate_key().decode()
    settings = _settings(tmp_path / "a", secret_key=key)
    settings.ensure_dirs()
    db = Database(settings)
    db.migrate()
    with db.session() as session:
        create_user(session, "alice", "alice-password-123")
        space = create_space(session, SPACE, sdk="static")
        set_secret(session, Cipher(settings), space, "API_KEY", "v")
    db.dispose()
    archive = tmp_path / "backup.tar"
    assert write_backup(settings, archive).manifest.secret_key == "environment"
    with tarfile.open(archive) as tar:
        assert "secret.key" not in tar.getnames()
    target = _settings(tmp_path / "b")
    with pytest.raises(ArchiveError, match="PODIUM_SECRET_KEY"):
        restore_backup(target, archive)
    assert not target.data_dir.exists()
    wrong = _settings(tmp_path / "b", secret_key=Fernet.generate_key().decode())
    with pytest.raises(ArchiveError, match="do not decrypt"):
        restore_backup(wrong, archive)
    assert not target.data_dir.exists()
    restore_backup(_settings(tmp_path / "b", secret_key=key), archive)
    assert (target.data_dir / "podium.db").is_file()
