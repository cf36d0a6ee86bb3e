"""Commits written without a push (huggingface_hub's commit endpoint), and the history and
refs the Hub API reports. Plumbing only: a private index, ``commit-tree`` and a
compare-and-swap ``update-ref``, so the bare repository never holds work-tree state and a
concurrent push is never overwritten."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from podium.config import Settings
from podium.errors import BadRequest, NotFound, PreconditionFailed, RevisionNotFound
from podium.names import SpaceId

from .git import ZERO_OID, check_repo_path, check_rev, run_git
from .repo import _existing_repo

DEFAULT_REF_PREFIX = "refs/heads/"


@dataclass(frozen=True, slots=True)
class Change:
    """One operation of a commit: ``data`` is the file's new content; None deletes ``path``
    (every file below it when ``folder``)."""

    path: str
    data: bytes | None = None
    folder: bool = False


@dataclass(frozen=True, slots=True)
class CommitEntry:
    oid: str
    author: str
    date: datetime
    title: str
    message: str


def _identity(author: str, settings: Settings) -> dict[str, str]:
    email = f"{author}@{settings.domain}"
    return {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email}


def branch_ref(branch: str) -> str:
    ref = DEFAULT_REF_PREFIX + check_rev(branch)
    if run_git(["check-ref-format", ref], check=False).returncode != 0:
        raise NotFound(f"invalid branch name {branch!r}")
    return ref


def tip(git_dir: Path, ref: str) -> str | None:
    proc = run_git(["rev-parse", "--verify", "--quiet", ref], git_dir=git_dir, check=False)
    return proc.stdout.decode().strip() or None


def commit_path(path: str) -> str:
    """``path`` as a commit may write it; BadRequest for anything outside the tree."""
    clean = check_repo_path(path)
    # git refuses .git components too, but as a failure of its own, not the caller's.
    if not clean or any(part.lower() == ".git" for part in clean.split("/")):
        raise BadRequest(f"invalid path {path!r}")
    return clean


def _apply(git_dir: Path, env: dict[str, str], changes: Sequence[Change]) -> None:
    for change in changes:
        path = commit_path(change.path)
        if change.data is not None:
            oid = run_git(["hash-object", "-w", "--stdin"], git_dir=git_dir,
                          input=change.data).stdout.decode().strip()
            run_git(["update-index", "--add", "--cacheinfo", f"100644,{oid},{path}"],
                    git_dir=git_dir, env=env)
            continue
        listed = run_git(["ls-files", "-z", "--", path], git_dir=git_dir, env=env).stdout
        names = [n for n in listed.decode(errors="surrogateescape").split("\0") if n]
        exact = [n for n in names if n == path]
        below = [n for n in names if n.startswith(path + "/")]
        gone = (below or exact) if change.folder else exact
        if not gone:
            raise NotFound(f"no {'folder' if change.folder else 'file'} {path!r} to delete")
        # Mode 0 removes the entry; --force-remove would want a work tree.
        run_git(["update-index", "-z", "--index-info"], git_dir=git_dir, env=env,
                input=b"".join(f"0 {ZERO_OID}\t".encode() + n.encode(errors="surrogateescape")
                               + b"\0" for n in gone))


def write_commit(
    settings: Settings, space_id: SpaceId, branch: str, changes: Sequence[Change], *,
    author: str, message: str, parent: str | None = None,
) -> tuple[str, str, str]:
    """Commit ``changes`` on top of ``branch`` and move the branch; returns (ref, old, new).
    ``parent``: the commit the caller built on; a branch that moved since is a Conflict, as
    is a push that lands between the read and the ref update."""
    git_dir = _existing_repo(settings, space_id)
    ref = branch_ref(branch)
    old = tip(git_dir, ref)
    if parent is not None and parent != old:
        raise PreconditionFailed(
            f"A commit has happened since: {branch} is at {(old or 'no commit')[:12]}, "
            f"not {parent[:12]}", hint="fetch the new head and build on it")
    with tempfile.TemporaryDirectory(prefix="podium-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if old is not None:
            run_git(["read-tree", old], git_dir=git_dir, env=env)
        _apply(git_dir, env, changes)
        tree = run_git(["write-tree"], git_dir=git_dir, env=env).stdout.decode().strip()
    args = ["commit-tree", tree] + (["-p", old] if old else [])
    new = run_git(args, git_dir=git_dir, env=_identity(author, settings),
                  input=message.encode()).stdout.decode().strip()
    moved = run_git(["update-ref", "-m", "commit via API", ref, new, old or ZERO_OID],
                    git_dir=git_dir, check=False)
    if moved.returncode != 0:
        raise PreconditionFailed(f"{branch} moved while this commit was written", hint="retry")
    return ref, old or ZERO_OID, new


def resolve_rev(settings: Settings, space_id: SpaceId, rev: str) -> str:
    """The commit sha a branch, tag or sha names; NotFound otherwise."""
    git_dir = _existing_repo(settings, space_id)
    proc = run_git(["rev-parse", "--verify", "--quiet", f"{check_rev(rev)}^{{commit}}"],
                   git_dir=git_dir, check=False)
    if proc.returncode != 0:
        raise RevisionNotFound(f"no revision {rev!r} in {space_id}")
    return proc.stdout.decode().strip()


def history(settings: Settings, space_id: SpaceId, rev: str, limit: int = 1000
            ) -> list[CommitEntry]:
    git_dir = _existing_repo(settings, space_id)
    sha = resolve_rev(settings, space_id, rev)
    out = run_git(["log", f"--max-count={limit}", "-z", "--format=%H%x1f%an%x1f%at%x1f%s%x1f%B",
                   sha], git_dir=git_dir).stdout.decode(errors="replace")
    entries = []
    for record in filter(None, out.split("\0")):
        oid, author, stamp, title, body = record.strip("\n").split("\x1f", 4)
        entries.append(CommitEntry(oid, author, datetime.fromtimestamp(int(stamp), UTC),
                                   title, body.strip()))
    return entries


def refs(settings: Settings, space_id: SpaceId) -> dict[str, list[tuple[str, str]]]:
    """{"branches": [(name, sha)], "tags": [(name, sha)]}."""
    git_dir = space_id.repo_path(settings.repos_dir)
    found: dict[str, list[tuple[str, str]]] = {"branches": [], "tags": []}
    if not (git_dir / "HEAD").is_file():
        return found
    out = run_git(["for-each-ref", "--format=%(refname)%09%(objectname)%09%(*objectname)",
                   "refs/heads", "refs/tags"], git_dir=git_dir).stdout.decode()
    for line in out.splitlines():
        ref, oid, peeled = line.split("\t")
        kind = "branches" if ref.startswith("refs/heads/") else "tags"
        found[kind].append((ref, peeled or oid))
    return found
