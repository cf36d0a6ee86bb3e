"""A Space's repository as the Hub's API shows it, read side: files at a revision (tree,
paths-info, siblings), history (commits), refs, the info of a revision, and the resolve
downloads hf_hub_download and snapshot_download fetch (with the headers they check)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from podium.controller.platform import Platform
from podium.errors import EntryNotFound, NotFound, PodiumError, RevisionNotFound
from podium.gitserver.commits import history, refs, resolve_rev
from podium.gitserver.git import DEFAULT_BRANCH, check_repo_path
from podium.gitserver.lfspolicy import pointers
from podium.gitserver.lfsstore import POINTER_MAX_BYTES, LfsStore, Pointer
from podium.gitserver.repo import TreeEntry, head_commit, read_file, read_tree
from podium.store.models import Space

from .deps import PlatformDep, ReadableSpace
from .schemas import SpaceOut

router = APIRouter(prefix="/api/spaces/{owner}/{name}", tags=["hub"])
downloads = APIRouter(prefix="/spaces/{owner}/{name}", tags=["hub"])


def _rev(platform: Platform, space: Space, rev: str) -> str:
    if head_commit(platform.settings, space.space_id) is None and rev == DEFAULT_BRANCH:
        raise RevisionNotFound(f"Space {space.space_id} has no commit yet",
                               hint="upload a file or git push first")
    try:
        return resolve_rev(platform.settings, space.space_id, rev)
    except NotFound as exc:
        raise RevisionNotFound(exc.message) from exc


def _entries(platform: Platform, space: Space, sha: str, path: str, recursive: bool
             ) -> list[TreeEntry]:
    try:
        return read_tree(platform.settings, space.space_id, sha, path, recursive=recursive)
    except NotFound as exc:
        raise EntryNotFound(exc.message) from exc


def _shape(entry: TreeEntry, lfs: dict[str, Pointer] | None = None) -> dict[str, Any]:
    if entry.type == "tree":
        return {"type": "directory", "oid": entry.oid, "size": 0, "path": entry.path}
    pointer = (lfs or {}).get(entry.oid)
    if pointer is None:
        return {"type": "file", "oid": entry.oid, "size": entry.size or 0, "path": entry.path}
    # As the Hub: the file's own size, and its object under "lfs".
    return {"type": "file", "oid": entry.oid, "size": pointer.size, "path": entry.path,
            "lfs": {"oid": pointer.oid, "size": pointer.size, "pointerSize": entry.size}}


def _lfs(platform: Platform, space: Space, entries: list[TreeEntry]) -> dict[str, Pointer]:
    """The LFS pointers among ``entries`` (blob id -> pointer)."""
    small = [e.oid for e in entries
             if e.type == "blob" and e.size is not None and e.size <= POINTER_MAX_BYTES]
    return pointers(space.space_id.repo_path(platform.settings.repos_dir), small)


def siblings(platform: Platform, space: Space) -> list[dict[str, object]]:
    """Every file at the head of main, as the Hub's ``siblings``."""
    sha = head_commit(platform.settings, space.space_id)
    if sha is None:
        return []
    return [{"rfilename": e.path, "size": e.size, "blobId": e.oid}
            for e in read_tree(platform.settings, space.space_id, sha) if e.type == "blob"]


@router.get("/revision/{rev}")
def revision(rev: str, space: ReadableSpace, platform: PlatformDep) -> SpaceOut:
    out = SpaceOut.of(space, platform.settings)
    out.sha = _rev(platform, space, rev)
    out.siblings = [{"rfilename": e.path, "size": e.size, "blobId": e.oid}
                    for e in _entries(platform, space, out.sha, "", True) if e.type == "blob"]
    return out


@router.get("/tree/{rev}")
@router.get("/tree/{rev}/{path:path}")
def tree(rev: str, space: ReadableSpace, platform: PlatformDep, path: str = "",
         recursive: bool = False) -> list[dict[str, Any]]:
    """Entries below ``path``; with ``recursive`` every file and directory under it."""
    sha = _rev(platform, space, rev)
    entries = _entries(platform, space, sha, path, recursive)
    if recursive:  # ls-tree -r lists files only; the Hub lists their directories too
        dirs = {p.rsplit("/", 1)[0] for p in (e.path for e in entries) if "/" in p}
        prefix = check_repo_path(path)
        dirs = {d for d in dirs if d != prefix}
        extra = [TreeEntry(d, "tree", "040000", "", None) for d in sorted(dirs)]
        entries = extra + entries
    lfs = _lfs(platform, space, entries)
    return [_shape(e, lfs) for e in entries]


@router.post("/paths-info/{rev}")
def paths_info(
    rev: str, space: ReadableSpace, platform: PlatformDep,
    paths: Annotated[list[str], Form(max_length=1000)], expand: Annotated[bool, Form()] = False,
) -> list[dict[str, Any]]:
    """The entries among ``paths`` that exist (missing ones are left out, as on the Hub)."""
    sha = _rev(platform, space, rev)
    found = []
    for path in paths:
        clean = check_repo_path(path)
        parent, _, leaf = clean.rpartition("/")
        try:
            listed = read_tree(platform.settings, space.space_id, sha, parent, recursive=False)
        except PodiumError:
            continue
        hits = [e for e in listed if e.path == clean and leaf]
        found += [_shape(e, _lfs(platform, space, hits)) for e in hits]
    return found


@router.get("/commits/{rev}")
def commits(rev: str, space: ReadableSpace, platform: PlatformDep) -> list[dict[str, Any]]:
    _rev(platform, space, rev)
    # The Hub's date format exactly: huggingface_hub parses no other.
    return [{"id": c.oid, "authors": [{"user": c.author}],
             "date": c.date.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
             "title": c.title, "message": c.message}
            for c in history(platform.settings, space.space_id, rev)]


@router.get("/refs")
def list_refs(space: ReadableSpace, platform: PlatformDep) -> dict[str, list[dict[str, str]]]:
    found = refs(platform.settings, space.space_id)

    def shaped(kind: str, prefix: str) -> list[dict[str, str]]:
        return [{"name": ref.removeprefix(prefix), "ref": ref, "targetCommit": sha}
                for ref, sha in found[kind]]

    return {"branches": shaped("branches", "refs/heads/"), "tags": shaped("tags", "refs/tags/"),
            "converts": [], "pullRequests": []}


# One route per method: a GET+HEAD route gives both operations one OpenAPI operationId.
@downloads.head("/resolve/{rev}/{path:path}", response_class=Response,
                operation_id="resolve_file_head")
@downloads.get("/resolve/{rev}/{path:path}", response_class=Response)
def resolve(rev: str, path: str, request: Request, space: ReadableSpace,
            platform: PlatformDep) -> Response:
    """The raw bytes of one file, with the headers huggingface_hub checks (X-Repo-Commit,
    ETag, Content-Length). Never rendered: the file is the Space author's, the origin is
    Podium's, so it goes out as a sandboxed, unsniffed download."""
    sha = _rev(platform, space, rev)
    clean = check_repo_path(path)
    parent, _, _ = clean.rpartition("/")
    entry = next((e for e in _entries(platform, space, sha, parent, False) if e.path == clean),
                 None)
    if entry is None or entry.type != "blob":
        raise EntryNotFound(f"no file {clean!r} at {rev} in {space.space_id}")
    pointer = _lfs(platform, space, [entry]).get(entry.oid)
    git_dir = space.space_id.repo_path(platform.settings.repos_dir)
    if pointer is not None and not LfsStore(git_dir).has(pointer.oid, pointer.size):
        pointer = None  # its object is not here: the pointer itself is served
    size = pointer.size if pointer else entry.size or 0
    headers = {
        # An LFS file's ETag is its sha256, as on the Hub (X-Linked-* name the object).
        "X-Repo-Commit": sha, "ETag": f'"{pointer.oid if pointer else entry.oid}"',
        "Content-Length": str(size), "Accept-Ranges": "none",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": "attachment",
    }
    if pointer is not None:
        headers |= {"X-Linked-Etag": f'"{pointer.oid}"', "X-Linked-Size": str(size)}
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers,
                        media_type="application/octet-stream")
    data = read_file(platform.settings, space.space_id, sha, clean)
    return Response(data, headers=headers, media_type="application/octet-stream")
