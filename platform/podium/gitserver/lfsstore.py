"""Git LFS objects of a Space: content-addressed files beside its bare repository, the
pointer format git-lfs commits in their place, and the smudging that gives builds and
file views the real contents.

Objects live in ``{git_dir}/lfs/objects/{oid[:2]}/{oid[2:4]}/{oid}`` (git-lfs's own local
layout), per Space: an object is served only by a Space that stored it, so knowing an oid
is not a way into another Space, and moving or deleting a repository moves or deletes its
objects with it."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from podium.errors import BadRequest, BuildError, PodiumError

from .git import git_env

POINTER_VERSION = b"version https://git-lfs.github.com/spec/v1"
# git-lfs writes pointers of ~130 bytes and refuses to read ones over 1024.
POINTER_MAX_BYTES = 1024
_OID = re.compile(r"[0-9a-f]{64}")
_POINTER = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*?"
    rb"oid sha256:(?P<oid>[0-9a-f]{64})\n"
    rb"size (?P<size>[0-9]{1,20})\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*"
)
# Unreferenced objects younger than this survive a gc: git-lfs uploads objects before the
# push that references them lands.
GC_GRACE_S = 3600.0


class ObjectRefused(PodiumError):
    """An upload whose bytes do not match its oid, or that is over the size limit."""

    http_status = 422
    code = "lfs_object_refused"


class ObjectTooLarge(ObjectRefused):
    http_status = 413


@dataclass(frozen=True, slots=True)
class Pointer:
    oid: str
    size: int


def pointer_text(pointer: Pointer) -> bytes:
    """The pointer file git-lfs commits for an object (its spec's exact layout)."""
    return POINTER_VERSION + f"\noid sha256:{pointer.oid}\nsize {pointer.size}\n".encode()


def check_oid(oid: str) -> str:
    if not _OID.fullmatch(oid):
        raise BadRequest(f"invalid LFS object id {oid!r}: a sha256 in lowercase hex")
    return oid


def parse_pointer(data: bytes) -> Pointer | None:
    """The pointer ``data`` is, None for any other file."""
    if len(data) > POINTER_MAX_BYTES or not data.startswith(POINTER_VERSION):
        return None
    match = _POINTER.fullmatch(data)
    if match is None:
        return None
    return Pointer(match["oid"].decode(), int(match["size"]))


def too_large_message(size: int, limit: int) -> str:
    return (
        f"LFS object of {size / (1 << 20):.1f} MiB is larger than the "
        f"{limit / (1 << 20):.1f} MiB this server accepts (PODIUM_LFS_OBJECT_MAX_BYTES)"
    )


class Incoming:
    """The bytes of one object as they arrive (``LfsStore.incoming``)."""

    def __init__(self, oid: str, limit: int, out: BinaryIO, tmp: Path, final: Path) -> None:
        self.oid, self.limit, self.out, self.tmp, self.final = oid, limit, out, tmp, final
        self.digest, self.size = hashlib.sha256(), 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise ObjectTooLarge(too_large_message(self.size, self.limit))
        self.digest.update(chunk)
        self.out.write(chunk)

    def keep(self, expected: int | None) -> None:
        """Refuses the bytes unless they hash to the oid and, when given, are ``expected``
        long; else stores them as the object."""
        self.out.flush()
        if expected is not None and self.size != expected:
            raise ObjectRefused(f"LFS object {self.oid}: got {self.size} bytes, "
                                f"expected {expected}")
        if self.digest.hexdigest() != self.oid:
            raise ObjectRefused(f"LFS object {self.oid}: its bytes have another sha256")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, self.final)  # atomic: a reader sees no object or the whole of it


class LfsStore:
    def __init__(self, git_dir: Path) -> None:
        self.root = git_dir / "lfs"

    def path(self, oid: str) -> Path:
        check_oid(oid)
        return self.root / "objects" / oid[:2] / oid[2:4] / oid

    def has(self, oid: str, size: int | None = None) -> bool:
        try:
            found = self.path(oid).stat().st_size
        except FileNotFoundError:
            return False
        return size is None or found == size

    async def put(
        self, oid: str, chunks: AsyncIterator[bytes], *, limit: int, expected: int | None,
    ) -> None:
        """Store the streamed bytes as ``oid``; refuses them (and keeps nothing) unless they
        hash to ``oid``, stay within ``limit`` and, when given, are ``expected`` long."""
        with self.incoming(oid, limit=limit) as incoming:
            async for chunk in chunks:
                incoming.write(chunk)
            incoming.keep(expected)

    @contextmanager
    def incoming(self, oid: str, *, limit: int) -> Iterator[Incoming]:
        """An object being received (an upload, or a remote worker's download): its bytes go
        to a temporary file, kept as ``oid`` only by ``Incoming.keep``."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"{oid[:12]}.")
        try:
            with os.fdopen(fd, "wb") as out:
                yield Incoming(oid, limit, out, Path(tmp), self.path(oid))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def store(self, data: bytes, *, limit: int) -> Pointer:
        """Keep ``data`` as an object (a file that came inline and goes to LFS); returns
        the pointer to commit in its place."""
        if len(data) > limit:
            raise ObjectTooLarge(too_large_message(len(data), limit))
        pointer = Pointer(hashlib.sha256(data).hexdigest(), len(data))
        if self.has(pointer.oid, pointer.size):
            return pointer
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"{pointer.oid[:12]}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            final = self.path(pointer.oid)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return pointer

    def smudge(self, data: bytes) -> bytes:
        """``data``, or the object it points to when it is a pointer to a stored object."""
        pointer = parse_pointer(data)
        if pointer is None or not self.has(pointer.oid, pointer.size):
            return data
        return self.path(pointer.oid).read_bytes()

    def smudge_tree(self, dest: Path) -> int:
        """Replace every pointer file below ``dest`` (an exported commit) with its object;
        returns how many. A pointer whose object this Space does not hold fails the build."""
        count = 0
        for file in _small_regular_files(dest):
            pointer = parse_pointer(file.read_bytes())
            if pointer is None:
                continue
            if not self.has(pointer.oid, pointer.size):
                raise BuildError(
                    f"{file.relative_to(dest)} is a Git LFS pointer to an object this Space "
                    f"does not have ({pointer.oid[:12]}, {pointer.size} bytes)",
                    hint="install git-lfs and run `git lfs push --all origin` to upload it",
                )
            fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".lfs-")
            os.close(fd)
            shutil.copyfile(self.path(pointer.oid), tmp)
            os.chmod(tmp, file.stat().st_mode & 0o777)
            os.replace(tmp, file)
            count += 1
        return count

    def objects(self) -> Iterator[Path]:
        base = self.root / "objects"
        if base.is_dir():
            yield from (p for p in base.glob("*/*/*") if _OID.fullmatch(p.name))

    def gc(self, git_dir: Path, *, grace_s: float = GC_GRACE_S) -> list[str]:
        """Delete the objects no commit of any ref points to (older than ``grace_s``);
        returns their oids. A referenced object is never removed."""
        stored = list(self.objects())
        if not stored:
            return []
        keep = referenced_oids(git_dir)
        cutoff = time.time() - grace_s
        removed = []
        for path in stored:
            if path.name not in keep and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


def pointers_below(dest: Path) -> set[Pointer]:
    """The LFS pointers among the files below ``dest`` (an exported commit): the objects
    ``smudge_tree`` will need."""
    found = (parse_pointer(file.read_bytes()) for file in _small_regular_files(dest))
    return {pointer for pointer in found if pointer is not None}


def _small_regular_files(dest: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(dest):  # symlinks to directories are not followed
        for name in files:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_file() and not path.is_symlink() and st.st_size <= POINTER_MAX_BYTES:
                yield path


def referenced_oids(git_dir: Path) -> set[str]:
    """The LFS oids of the pointer files in every commit reachable from any ref."""
    env = git_env()
    base = ["git", "--git-dir", str(git_dir)]
    listed = subprocess.run(
        [*base, "rev-list", "--all", "--objects", f"--filter=blob:limit={POINTER_MAX_BYTES}"],
        capture_output=True, env=env, check=True, timeout=600,
    )
    blobs = b"\n".join(line.split(b" ", 1)[0] for line in listed.stdout.splitlines()) + b"\n"
    dumped = subprocess.run(
        [*base, "cat-file", "--batch=%(objecttype) %(objectsize)"],
        input=blobs, capture_output=True, env=env, check=True, timeout=600,
    )
    out, pos, found = dumped.stdout, 0, set()
    while pos < len(out):
        end = out.index(b"\n", pos)
        kind, _, size = out[pos:end].partition(b" ")
        if not size.isdigit():  # "<oid> missing": nothing follows
            pos = end + 1
            continue
        body = out[end + 1:end + 1 + int(size)]
        pos = end + 1 + int(size) + 1
        pointer = parse_pointer(body) if kind == b"blob" else None
        if pointer is not None:
            found.add(pointer.oid)
    return found
