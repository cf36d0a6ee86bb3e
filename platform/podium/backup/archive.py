"""The archive file itself: a tar (gzip when the name ends in .gz or .tgz) written beside
its final name and renamed into place when complete, so a backup cut short never leaves a
file that looks finished; and the reading side, which stages every member in a directory
and refuses anything but plain files under plain relative names."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .manifest import MANIFEST_NAME, ArchiveError, Manifest


class _Hashing:
    """A reader that hashes what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.digest.update(chunk)
        return chunk


def _mode(path: Path) -> str:
    return "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"


class ArchiveWriter:
    """``with ArchiveWriter(path, manifest) as out: out.add(member, file)``; the manifest
    goes in last, once every checksum is known, and only then does ``path`` appear."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self.partial = path.with_name(f".{path.name}.partial")
        self._tar: tarfile.TarFile | None = None
        self._file: BinaryIO | None = None

    def __enter__(self) -> ArchiveWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Private from the first byte: it holds the secret key and every secret.
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode=_mode(self.path))  # noqa: SIM115
        return self

    def add(self, member: str, path: Path) -> None:
        """Append ``path`` as ``member``, its sha256 taken from the very bytes written."""
        assert self._tar is not None
        with open(path, "rb") as fh:
            info = self._tar.gettarinfo(arcname=member, fileobj=fh)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o600
            hashed = _Hashing(fh)
            self._tar.addfile(info, hashed)
        self.manifest.files[member] = {"sha256": hashed.digest.hexdigest(), "size": info.size}

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        assert self._tar is not None
        try:
            if kind is None:
                data = self.manifest.to_json().encode()
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
                self._tar.addfile(info, io.BytesIO(data))
            self._tar.close()
            assert self._file is not None
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if kind is None:
                os.replace(self.partial, self.path)
        finally:
            if self._file is not None:
                self._file.close()
            self.partial.unlink(missing_ok=True)


def _checked_name(name: str) -> str:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", "") for p in parts):
        raise ArchiveError(f"the backup holds an unsafe member name {name!r}")
    return name


def stage(archive: Path, into: Path) -> Manifest:
    """Extract every member of ``archive`` into ``into`` and check it against the manifest;
    an unreadable, truncated or altered archive raises ArchiveError naming what is wrong."""
    if not archive.is_file():
        raise ArchiveError(f"no backup file at {archive}")
    manifest_text: str | None = None
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                name = _checked_name(info.name)
                if info.isdir():
                    continue
                if not info.isfile():
                    raise ArchiveError(f"the backup holds {name!r}, which is not a plain file")
                source = tar.extractfile(info)
                assert source is not None
                if name == MANIFEST_NAME:
                    manifest_text = source.read().decode()
                    continue
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
    except (tarfile.TarError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ArchiveError(
            f"the backup {archive} is truncated or corrupt ({exc})",
            hint="nothing was restored; use a complete copy of the archive",
        ) from exc
    if manifest_text is None:
        raise ArchiveError(f"{archive} has no manifest: it is truncated or not a Podium backup",
                           hint="nothing was restored; use a complete copy of the archive")
    manifest = Manifest.from_json(manifest_text)
    manifest.verify(into)
    return manifest
