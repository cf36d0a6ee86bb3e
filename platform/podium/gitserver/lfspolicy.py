"""Which files of an API commit go to Git LFS, as on the Hub: files over 10 MB, and files
the repository's .gitattributes (as of the commit being written) gives ``filter=lfs``.
Their bytes go to the Space's LFS store (the one git-lfs pushes to) and the commit holds a
pointer, so a ``git lfs`` clone, builds and the resolve downloads see the real contents.

huggingface_hub 1.x and 2.x send such files inline when preupload answers "regular" (the
answer that keeps every client working: with hf_xet installed, as it is by default, the
client's "lfs" mode goes to Xet storage with no fallback); this module moves them to LFS on
arrival. ``lfsFile`` operations of clients that did upload through the LFS batch API point
at objects already stored."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from podium.errors import BadRequest

from .commits import Change, branch_ref, commit_path, tip
from .git import run_git
from .lfsstore import POINTER_MAX_BYTES, LfsStore, Pointer, parse_pointer, pointer_text

# The Hub's rule: a file over 10 MB is refused as a regular git blob.
LFS_THRESHOLD = 10 * 1000 * 1000
GITATTRIBUTES = ".gitattributes"


def lfs_routed(git_dir: Path, base: str | None, changes: Sequence[Change]) -> set[str]:
    """The added paths whose ``filter`` attribute is ``lfs`` once ``changes`` apply on
    ``base``: git itself reads the .gitattributes files (root and nested) from a private
    index holding the new ones."""
    added = [commit_path(c.path) for c in changes if c.data is not None]
    if not added:
        return set()
    with tempfile.TemporaryDirectory(prefix="podium-attr-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if base is not None:
            run_git(["read-tree", base], git_dir=git_dir, env=env)
        for change in changes:
            path = commit_path(change.path)
            if change.data is not None and path.rsplit("/", 1)[-1] == GITATTRIBUTES:
                oid = run_git(["hash-object", "-w", "--stdin"], git_dir=git_dir,
                              input=change.data).stdout.decode().strip()
                run_git(["update-index", "--add", "--cacheinfo", f"100644,{oid},{path}"],
                        git_dir=git_dir, env=env)
        out = run_git(["check-attr", "--cached", "-z", "--stdin", "filter"], git_dir=git_dir,
                      env=env, input=b"".join(p.encode() + b"\0" for p in added)).stdout
    fields = out.split(b"\0")
    return {fields[i].decode() for i in range(0, len(fields) - 2, 3)
            if fields[i + 2] == b"lfs"}


def route_to_lfs(
    git_dir: Path, branch: str, changes: Sequence[Change], *, limit: int,
) -> list[Change]:
    """``changes`` with the files that belong in LFS stored there and replaced by their
    pointers. A file sent to LFS for its size alone is also tracked in the root
    .gitattributes (as ``git lfs track`` would), so a git-lfs clone checks out its bytes."""
    if not (git_dir / "HEAD").is_file():
        return list(changes)  # no repository: the commit itself says so
    base = tip(git_dir, branch_ref(branch))
    routed = lfs_routed(git_dir, base, changes)
    store = LfsStore(git_dir)
    out, track = [], []
    for change in changes:
        data = change.data
        if data is not None and parse_pointer(data) is None and (
                commit_path(change.path) in routed or len(data) > LFS_THRESHOLD):
            pointer = store.store(data, limit=limit)
            change = replace(change, data=pointer_text(pointer))
            if commit_path(change.path) not in routed:
                track.append(commit_path(change.path))
        out.append(change)
    return _tracked(git_dir, base, out, track) if track else out


def _tracked(git_dir: Path, base: str | None, changes: list[Change], paths: list[str]
             ) -> list[Change]:
    """``changes`` with ``paths`` added to the root .gitattributes."""
    given = next((c for c in changes
                  if commit_path(c.path) == GITATTRIBUTES and c.data is not None), None)
    if given is not None:
        current = given.data or b""
    elif base is not None:
        shown = run_git(["cat-file", "blob", f"{base}:{GITATTRIBUTES}"], git_dir=git_dir,
                        check=False)
        current = shown.stdout if shown.returncode == 0 else b""
    else:
        current = b""
    lines = "".join(f"/{_escape(p)} filter=lfs diff=lfs merge=lfs -text\n" for p in paths)
    text = current + (b"\n" if current and not current.endswith(b"\n") else b"") + lines.encode()
    kept = [c for c in changes if commit_path(c.path) != GITATTRIBUTES]
    return [*kept, Change(GITATTRIBUTES, text)]


def _escape(path: str) -> str:
    """``path`` as a gitattributes pattern matching itself only (git-lfs's escaping)."""
    out = "".join(f"\\{ch}" if ch in "*?[]\\!#" else ch for ch in path)
    return out.replace(" ", "[[:space:]]")


def stored_pointer(git_dir: Path, path: str, oid: str, size: int) -> Change:
    """An ``lfsFile`` operation: the pointer to an object the client uploaded first."""
    store = LfsStore(git_dir)
    if not store.has(oid, size):
        raise BadRequest(f"{path}: no LFS object {oid} of {size} bytes in this Space",
                         hint="upload it through the LFS batch API before committing")
    return Change(path, pointer_text(Pointer(oid, size)))


def pointers(git_dir: Path, blobs: Iterable[str]) -> dict[str, Pointer]:
    """Which of ``blobs`` (small git blob ids) are LFS pointers, read in one git call."""
    wanted = sorted(set(blobs))
    if not wanted:
        return {}
    out = run_git(["cat-file", "--batch=%(objectname) %(objecttype) %(objectsize)"],
                  git_dir=git_dir, input="".join(f"{b}\n" for b in wanted).encode()).stdout
    found, pos = {}, 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        head = out[pos:end].split(b" ")
        if len(head) != 3 or not head[2].isdigit():  # "<oid> missing"
            pos = end + 1
            continue
        size = int(head[2])
        body = out[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
        pointer = parse_pointer(body) if head[1] == b"blob" and size <= POINTER_MAX_BYTES \
            else None
        if pointer is not None:
            found[head[0].decode()] = pointer
    return found
