"""Backup and restore of a whole Podium: `podium backup FILE` writes one archive (database,
repositories with their Git LFS objects, the secret key, a manifest, optionally every
Space's /data) while the platform runs; `podium restore FILE` brings it back into an empty
data dir, after which the worker's catch-up pass rebuilds and deploys every Space."""

from __future__ import annotations

from .manifest import ArchiveError, Manifest
from .restorer import RestoreReport, restore_backup
from .writer import BackupReport, write_backup

__all__ = [
    "ArchiveError", "BackupReport", "Manifest", "RestoreReport", "restore_backup",
    "write_backup",
]
