"""A Space's git repository and its Git LFS objects, in and out of the archive.

Consistent while pushes land: ``git bundle create --all`` reads the refs once and packs
exactly the objects they reach, and git moves a ref only after a push's objects are in
place (a push in flight sits in a quarantine directory until then), so the bundle is the
repository as it was at one instant. LFS objects are copied after the bundle: git-lfs
uploads an object before the push that names it, so every object the bundled commits point
to is already stored; an object removed meanwhile by LFS gc was unreferenced anyway."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from podium.config import Settings
from podium.gitserver.git import DEFAULT_BRANCH, run_git
from podium.gitserver.lfsstore import LfsStore
from podium.gitserver.repo import ensure_repo, head_commit, repo_exists
from podium.names import SpaceId

from .manifest import ArchiveError, SpaceEntry, sha256_file

_BUNDLE_TIMEOUT_S = 3600


def bundle_member(space_id: SpaceId) -> str:
    return f"repos/{space_id.owner}/{space_id.name}.bundle"


def lfs_member(space_id: SpaceId, oid: str) -> str:
    return f"lfs/{space_id.owner}/{space_id.name}/{oid}"


def bundle(settings: Settings, space_id: SpaceId, dest: Path) -> str | None:
    """Write the Space's repository as a bundle at ``dest``; returns the head of main, or
    None (and writes nothing) when the repository is missing or has no commit yet."""
    if not repo_exists(settings, space_id):
        return None
    git_dir = space_id.repo_path(settings.repos_dir)
    proc = run_git(["bundle", "create", "--quiet", str(dest), "--all"], git_dir=git_dir,
                   check=False, timeout=_BUNDLE_TIMEOUT_S)
    if proc.returncode != 0:
        if b"empty bundle" in proc.stderr:
            return None
        raise ArchiveError(f"could not bundle the repository of {space_id}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    listed = run_git(["bundle", "list-heads", str(dest), f"refs/heads/{DEFAULT_BRANCH}"],
                     git_dir=git_dir, check=False)
    head = listed.stdout.decode().split(" ", 1)[0].strip()
    return head or None


def lfs_objects(settings: Settings, space_id: SpaceId) -> Iterator[tuple[str, Path]]:
    """(oid, file) of every LFS object the Space stores."""
    if not repo_exists(settings, space_id):
        return
    for path in LfsStore(space_id.repo_path(settings.repos_dir)).objects():
        yield path.name, path


def put_back(settings: Settings, entry: SpaceEntry, staged: Path) -> str | None:
    """Recreate the Space's repository (hooks and config as Podium makes them) from its
    bundle and LFS objects; returns the head of main."""
    space_id = SpaceId.parse(entry.id)
    git_dir = ensure_repo(settings, space_id)
    if entry.repository is not None:
        run_git(["fetch", "--quiet", str(staged / entry.repository), "+refs/*:refs/*"],
                git_dir=git_dir, timeout=_BUNDLE_TIMEOUT_S)
    store = LfsStore(git_dir)
    for member in entry.lfs:
        oid = Path(member).name
        source = staged / member
        if sha256_file(source) != oid:  # content-addressed: the name is the checksum
            raise ArchiveError(f"LFS object {member} does not match its id")
        target = store.path(oid)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
    return head_commit(settings, space_id)
