"""Issue 13, item 3: the LFS object store with real git repositories: an object a commit of
any ref references is never collected, an unreferenced one is once past the grace period,
and an export with a pointer to an object the Space lacks fails with a hint."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.errors import BuildError
from podium.gitserver.lfsstore import LfsStore, ObjectRefused, ObjectTooLarge, parse_pointer


def _git(*args: str, cwd: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _pointer(data: bytes) -> bytes:
    oid = hashlib.sha256(data).hexdigest()
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"
            f"size {len(data)}\n").encode()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1000):
        yield data[i:i + 1000]


def _put(store: LfsStore, data: bytes, limit: int = 1 << 20) -> str:
    oid = hashlib.sha256(data).hexdigest()
    asyncio.run(store.put(oid, _chunks(data), limit=limit, expected=len(data)))
    return oid


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    bare, work = tmp_path / "bare.git", tmp_path / "work"
    _git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    return bare, work


def _commit(work: Path, bare: Path, ref: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (work / name).write_bytes(data)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", ref, cwd=work)
    _git("push", "-q", "-f", str(bare), f"HEAD:{ref}", cwd=work)


def test_gc_keeps_every_referenced_object_and_drops_old_unreferenced(repo) -> None:
    bare, work = repo
    store = LfsStore(bare)
    on_main, on_branch, orphan, fresh = b"main" * 100, b"branch" * 100, b"orphan", b"fresh"
    oids = {k: _put(store, v) for k, v in
            {"main": on_main, "branch": on_branch, "orphan": orphan, "fresh": fresh}.items()}
    _commit(work, bare, "refs/heads/main", {"a.bin": _pointer(on_main)})
    _commit(work, bare, "refs/heads/side", {"a.bin": _pointer(on_branch)})
    # Referenced now only by an older commit of side (a later commit changed the file).
    _commit(work, bare, "refs/heads/side", {"a.bin": b"plain now"})
    old = 1_000_000_000.0
    for oid in (oids["main"], oids["branch"], oids["orphan"]):
        os.utime(store.path(oid), (old, old))
    removed = store.gc(bare)
    assert removed == [oids["orphan"]]
    assert store.has(oids["main"]) and store.has(oids["branch"]) and store.has(oids["fresh"])


def test_put_refuses_wrong_bytes_and_over_limit(tmp_path: Path) -> None:
    store = LfsStore(tmp_path)
    data = b"x" * 5000
    with pytest.raises(ObjectRefused, match="another sha256"):
        asyncio.run(store.put("0" * 64, _chunks(data), limit=1 << 20, expected=None))
    with pytest.raises(ObjectRefused, match="expected 4999"):
        asyncio.run(store.put(hashlib.sha256(data).hexdigest(), _chunks(data),
                              limit=1 << 20, expected=4999))
    with pytest.raises(ObjectTooLarge):
        _put(store, data, limit=4096)
    assert list(store.objects()) == [] and list((store.root / "tmp").iterdir()) == []


def test_smudge_tree_replaces_pointers_and_fails_on_a_missing_object(tmp_path: Path) -> None:
    store = LfsStore(tmp_path / "repo")
    data = os.urandom(3000)
    _put(store, data)
    dest = tmp_path / "ctx"
    (dest / "sub").mkdir(parents=True)
    (dest / "sub" / "w.bin").write_bytes(_pointer(data))
    (dest / "plain.txt").write_bytes(b"version 1\n")
    assert store.smudge_tree(dest) == 1
    assert (dest / "sub" / "w.bin").read_bytes() == data
    assert parse_pointer((dest / "plain.txt").read_bytes()) is None
    (dest / "gone.bin").write_bytes(_pointer(b"never uploaded"))
    with pytest.raises(BuildError, match="gone.bin is a Git LFS pointer") as err:
        store.smudge_tree(dest)
    assert "git lfs push --all" in (err.value.hint or "")
