"""`podium restore FILE`: a backup back into an EMPTY data dir (and empty database), on this
machine or a fresh one. Nothing is written where the platform reads until the whole archive
has been read and checked against its manifest; a restore that fails part-way removes what
it wrote, so the target is as empty as before and the restore can simply be run again.
Once the platform starts on the restored data dir, its worker's catch-up pass rebuilds and
deploys every Space (see ``rebuilds``)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from podium.config import Settings
from podium.errors import PodiumError
from podium.names import SpaceId
from podium.scheduler.storage import detach, mounted_from, unmount
from podium.store.db import Database
from podium.store.models import Secret
from podium.store.secrets import Cipher

from . import database, repositories, volumes
from .archive import stage
from .manifest import ArchiveError, Manifest
from .rebuilds import Handover, hand_over
from .writer import KEPT_FILES

STAGING = ".restoring"


@dataclass(frozen=True, slots=True)
class RestoreReport:
    manifest: Manifest
    handover: Handover
    seconds: float


def check_target(settings: Settings) -> None:
    """Refuse a data dir that holds anything, or a database that does (nothing written)."""
    data_dir = settings.data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise ArchiveError(f"{data_dir} is not a directory")
    found = sorted(p.name for p in data_dir.iterdir()) if data_dir.is_dir() else []
    if found:
        raise ArchiveError(
            f"the data dir {data_dir} is not empty ({', '.join(found[:5])}"
            f"{', ...' if len(found) > 5 else ''})",
            hint="restore into an empty or new directory (PODIUM_DATA_DIR); nothing was changed")
    database.check_empty(settings)


def restore_backup(settings: Settings, archive: Path, *, docker: Any = None) -> RestoreReport:
    started = time.monotonic()
    check_target(settings)
    created = not settings.data_dir.exists()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    staging = settings.data_dir / STAGING
    try:
        manifest = stage(archive, staging)
        _check_key(settings, manifest)
        handover = _put_back(settings, manifest, staging, docker)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _undo(settings, created)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return RestoreReport(manifest, handover, time.monotonic() - started)


def _check_key(settings: Settings, manifest: Manifest) -> None:
    if manifest.secret_key == "environment" and not settings.secret_keys:
        raise ArchiveError(
            "this backup's secrets are encrypted with the PODIUM_SECRET_KEY set when it was "
            "made, and the archive does not hold that key",
            hint="set the same PODIUM_SECRET_KEY and run the restore again; nothing was kept")


def _put_back(settings: Settings, manifest: Manifest, staged: Path, docker: Any) -> Handover:
    if manifest.secret_key == "file":
        key = settings.secret_key_file
        shutil.move(staged / "secret.key", key)
        os.chmod(key, 0o600)
    for name in KEPT_FILES:
        if (staged / name).is_file():
            shutil.move(staged / name, settings.data_dir / name)
    settings.ensure_dirs()
    database.put_back(settings, manifest.database["member"], staged / manifest.database["member"])
    db = Database(settings)
    try:
        db.migrate()  # a backup from an older Podium gets this one's schema
        heads: dict[str, str | None] = {}
        for entry in manifest.spaces:
            heads[entry.id] = repositories.put_back(settings, entry, staged)
            if entry.data is not None:
                if docker is None and not _quota_on(settings):
                    from podium.builder.engine import docker_client

                    docker = docker_client()
                volumes.put_back(settings, SpaceId.parse(entry.id), staged / entry.data, docker)
        handover = hand_over(db, heads)
        _check_secrets(settings, db)
    finally:
        db.dispose()
    return handover


def _quota_on(settings: Settings) -> bool:
    from podium.scheduler.storage import parse_size

    return parse_size(settings.space_data_quota, "space_data_quota") > 0


def _check_secrets(settings: Settings, db: Database) -> None:
    """Every stored secret decrypts with the key this machine will use."""
    cipher = Cipher(settings)
    with db.session() as session:
        for secret in session.scalars(select(Secret)):
            try:
                cipher.decrypt(secret.value_encrypted)
            except PodiumError as exc:
                raise ArchiveError(
                    "the restored secrets do not decrypt with this machine's key",
                    hint="PODIUM_SECRET_KEY must be unset (the archive's key is used) or the "
                    "key the backup was made with; nothing was kept") from exc


def _undo(settings: Settings, created: bool) -> None:
    """Leave the data dir as empty as it was found."""
    for target, image in mounted_from(settings.data_dir).items():
        unmount(target)
        detach(image)
    for child in list(settings.data_dir.iterdir()) if settings.data_dir.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    if created:
        shutil.rmtree(settings.data_dir, ignore_errors=True)
