"""The Hub's write side of a repository: preupload (which upload mode each file takes) and
the NDJSON commit endpoint behind upload_file, upload_folder, delete_file, delete_folder and
create_commit. A commit here builds and deploys exactly like a git push
(controller.commits)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import Field

from podium.controller import commits as control
from podium.errors import BadRequest
from podium.gitserver.commits import Change
from podium.gitserver.lfspolicy import route_to_lfs, stored_pointer
from podium.gitserver.lfsstore import check_oid

from .deps import CurrentUser, PlatformDep, WritableSpace
from .schemas import Request as Body

router = APIRouter(prefix="/api/spaces/{owner}/{name}", tags=["hub"])


class PreuploadFile(Body):
    path: str = Field(min_length=1, max_length=4096)
    size: int = Field(ge=0)
    sample: str = Field("", max_length=1024)


class PreuploadIn(Body):
    files: list[PreuploadFile] = Field(max_length=1000)


@router.post("/preupload/{rev}")
def preupload(rev: str, body: PreuploadIn, space: WritableSpace) -> dict[str, Any]:
    """Every file goes inline ("regular"), even the ones that end up in LFS: with hf_xet
    installed (huggingface_hub's default) the client's "lfs" mode means Xet storage, with no
    fallback to the LFS batch API, so "lfs" would break uploads. The commit endpoint moves
    large and .gitattributes-LFS files to the LFS store itself (gitserver.lfspolicy)."""
    return {"files": [{"path": f.path, "uploadMode": "regular", "shouldIgnore": False,
                       "oid": None} for f in body.files]}


@dataclass(frozen=True)
class LfsRef:
    """An ``lfsFile`` operation: a file whose object the client uploaded to the LFS API."""

    path: str
    oid: str
    size: int


def _lfs_ref(path: str, value: dict[str, Any]) -> LfsRef:
    oid, size = value.get("oid"), value.get("size")
    if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) \
            or not isinstance(size, int) or size < 0:
        raise BadRequest(f"{path}: an lfsFile operation needs a sha256 oid and a size")
    return LfsRef(path, check_oid(oid), size)


def _change(key: str, value: dict[str, Any]) -> Change | LfsRef:
    path = value.get("path")
    if not isinstance(path, str) or not path:
        raise BadRequest(f"a {key} operation needs a path")
    if key == "file":
        if value.get("encoding", "base64") != "base64":
            raise BadRequest(f"{path}: only base64 content is accepted")
        try:
            return Change(path, base64.b64decode(str(value.get("content", "")), validate=True))
        except binascii.Error as exc:
            raise BadRequest(f"{path}: content is not valid base64") from exc
    if key in ("deletedFile", "deletedFolder"):
        return Change(path, None, folder=key == "deletedFolder")
    if key == "lfsFile":
        return _lfs_ref(path, value)
    raise BadRequest(f"unknown commit operation {key!r}")


def parse_commit(body: bytes) -> tuple[dict[str, Any], list[Change | LfsRef]]:
    header: dict[str, Any] = {}
    changes: list[Change | LfsRef] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest(f"line {number} of the commit is not a JSON operation") from exc
        if not isinstance(value, dict):
            raise BadRequest(f"line {number}: value must be an object")
        if key == "header":
            header = value
        else:
            changes.append(_change(str(key), value))
    return header, changes


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the commit is over this server's limit of {limit >> 20} MiB",
                             hint="keep large files outside the Space's repository")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/commit/{rev}")
async def commit(rev: str, request: Request, space: WritableSpace, platform: PlatformDep,
                 principal: CurrentUser, create_pr: bool = False) -> dict[str, Any]:
    if create_pr:
        raise BadRequest("pull requests are not offered here", hint="commit to a branch")
    # base64 inflates by 4/3; the repository limit itself is checked on the decoded files.
    raw = await _body(request, platform.settings.repo_max_bytes * 4 // 3 + (1 << 20))
    header, changes = parse_commit(raw)
    summary = str(header.get("summary") or "Upload with huggingface_hub")
    description = str(header.get("description") or "")
    message = summary + ("\n\n" + description if description else "") + "\n"
    parent = header.get("parentCommit")
    git_dir = space.space_id.repo_path(platform.settings.repos_dir)
    limit = platform.settings.lfs_object_max_bytes

    def write() -> tuple[str, list[str]]:
        plain = [stored_pointer(git_dir, c.path, c.oid, c.size) if isinstance(c, LfsRef)
                 else c for c in changes]
        return control.commit(platform, principal, space.space_id,
                              route_to_lfs(git_dir, rev, plain, limit=limit), branch=rev,
                              message=message, parent=str(parent) if parent else None)

    new, lines = await anyio.to_thread.run_sync(write)
    base = str(request.base_url).rstrip("/")
    return {"success": True, "commitOid": new, "commitUrl": f"{base}/spaces/{space.space_id}"
            f"/commit/{new}", "pullRequestUrl": None, "commitMessage": summary,
            "remote": lines}
