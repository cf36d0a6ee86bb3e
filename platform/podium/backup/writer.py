"""`podium backup FILE`: one archive of everything a Podium needs to come back, written
while it runs. The database is copied first; each repository is bundled after it, so a
Space the copy knows has its repository in the archive (a Space created after the copy is
left for the next backup)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from podium import __version__
from podium.config import Settings
from podium.names import SpaceId
from podium.store.db import Database
from podium.store.models import ApiToken, Build, Secret, Space, User, Variable

from . import database, repositories, volumes
from .archive import ArchiveWriter
from .manifest import Manifest, SpaceEntry

# Small files of the data dir that go along as they are.
KEPT_FILES = ("admin-password",)


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    manifest: Manifest
    bytes: int
    seconds: float


def _counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("users", User), ("tokens", ApiToken), ("spaces", Space),
                                    ("builds", Build), ("secrets", Secret),
                                    ("variables", Variable))}


def _space_ids(db: Database) -> list[SpaceId]:
    with db.session() as session:
        return [space.space_id for space in session.scalars(select(Space).order_by(Space.id))]


def write_backup(settings: Settings, path: Path, *, with_data: bool = False,
                 docker: Any = None) -> BackupReport:
    """Write the archive at ``path`` (replaced only once complete)."""
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".podium-backup-", dir=path.parent) as tmp:
        work = Path(tmp)
        member, db_file = database.snapshot(settings, work)
        # Counts and the Space list come from the copy itself (SQLite), or the live
        # database right after pg_dump's snapshot.
        counted = settings if database.backend(settings) != "sqlite" else \
            settings.model_copy(update={"database_url": f"sqlite:///{db_file}"})
        db = Database(counted)
        try:
            counts, space_ids, revision = _counts(db), _space_ids(db), db.current_revision()
        finally:
            db.dispose()
        manifest = Manifest(
            podium_version=__version__, created=datetime.now(UTC).isoformat(),
            database={"backend": database.backend(settings), "member": member,
                      "revision": revision},
            secret_key="environment" if settings.secret_keys else (
                "file" if settings.secret_key_file.is_file() else "none"),
            counts=counts, spaces=[], with_data=with_data,
        )
        with ArchiveWriter(path, manifest) as out:
            out.add(member, db_file)
            db_file.unlink()
            if manifest.secret_key == "file":
                out.add("secret.key", settings.secret_key_file)
            for name in KEPT_FILES:
                if (settings.data_dir / name).is_file():
                    out.add(name, settings.data_dir / name)
            for space_id in space_ids:
                manifest.spaces.append(_space(settings, space_id, out, work, with_data, docker))
            manifest.counts.update(
                repositories=sum(1 for s in manifest.spaces if s.repository),
                lfs_objects=sum(len(s.lfs) for s in manifest.spaces),
                data_volumes=sum(1 for s in manifest.spaces if s.data))
    return BackupReport(path, manifest, path.stat().st_size, time.monotonic() - started)


def _space(settings: Settings, space_id: SpaceId, out: ArchiveWriter, work: Path,
           with_data: bool, docker: Any) -> SpaceEntry:
    entry = SpaceEntry(id=str(space_id))
    bundle = work / "repo.bundle"
    entry.head = repositories.bundle(settings, space_id, bundle)
    if entry.head is not None:
        entry.repository = repositories.bundle_member(space_id)
        out.add(entry.repository, bundle)
        bundle.unlink()
    for oid, file in repositories.lfs_objects(settings, space_id):
        member = repositories.lfs_member(space_id, oid)
        try:
            out.add(member, file)
        except FileNotFoundError:  # removed by LFS gc meanwhile: it was unreferenced
            continue
        entry.lfs.append(member)
    if with_data:
        tarred = work / "data.tar"
        if volumes.copy_out(settings, space_id, tarred, docker):
            entry.data = volumes.data_member(space_id)
            out.add(entry.data, tarred)
            tarred.unlink()
    return entry
