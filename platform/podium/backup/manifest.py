"""The archive's table of contents: what it holds, counts for the operator, and a sha256
per member so a restore can tell a damaged archive from a good one before it writes
anything where the platform will read it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import PodiumError

FORMAT = "podium-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


class ArchiveError(PodiumError):
    """A backup archive that cannot be read or restored as it is (truncated, corrupt, from
    a newer format), or a restore target that is not empty."""

    http_status = 400
    exit_code = 2
    code = "backup_archive"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(slots=True)
class SpaceEntry:
    """One Space's parts in the archive (member names, None when absent)."""

    id: str
    repository: str | None = None  # a git bundle; None: the repository was empty or gone
    head: str | None = None  # refs/heads/main in the bundle
    lfs: list[str] = field(default_factory=list)  # members holding its LFS objects
    data: str | None = None  # a tar of its /data (with --with-data)


@dataclass(slots=True)
class Manifest:
    podium_version: str
    created: str  # ISO 8601, UTC
    database: dict[str, Any]  # backend, member, alembic revision
    # "file": data_dir/secret.key is in the archive; "environment": PODIUM_SECRET_KEY was
    # set, so the operator keeps that key (the archive has none).
    secret_key: str
    counts: dict[str, int]
    spaces: list[SpaceEntry]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # member -> sha256, size
    with_data: bool = False
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            raw = json.loads(text)
            if raw.get("format") != FORMAT:
                raise ArchiveError("this archive is not a Podium backup (no podium manifest)")
            if int(raw.get("format_version", 0)) > FORMAT_VERSION:
                raise ArchiveError(
                    f"this backup has format {raw['format_version']}; this Podium reads up "
                    f"to {FORMAT_VERSION}", hint="restore it with a newer Podium")
            raw["spaces"] = [SpaceEntry(**entry) for entry in raw["spaces"]]
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ArchiveError(f"the backup's manifest is unreadable: {exc}") from exc

    def verify(self, staged: Path) -> None:
        """Every member the manifest lists is in ``staged`` with its size and sha256."""
        for member, expected in sorted(self.files.items()):
            path = staged / member
            if not path.is_file():
                raise ArchiveError(f"the backup lacks {member}, which its manifest lists",
                                   hint="the archive is truncated or was altered")
            if path.stat().st_size != expected["size"] or sha256_file(path) != expected["sha256"]:
                raise ArchiveError(f"{member} in the backup does not match its checksum",
                                   hint="the archive is corrupt; use another copy")
