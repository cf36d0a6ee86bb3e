"""Issue 13 items 1 and 3, the LFS side of huggingface_hub's uploads, with the real client
against the real API app: a file over the Hub's 10 MB line, or one .gitattributes routes to
LFS, lands in the Space's LFS store (the one git-lfs uses) and is committed as a pointer;
hf_hub_download, a `git lfs` clone and list_repo_tree see what the Hub would show. An
``lfsFile`` operation commits an object the client uploaded through the LFS batch API
(huggingface_hub's own lfs functions, Bearer token), and the size limit is named."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.lfs import UploadInfo, post_lfs_batch_info

from podium.gitserver.lfsstore import LfsStore
from podium.names import SpaceId
from tests.conftest import require
from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, ServedApp, api_settings
from tests.integration.test_api_git import token_for
from tests.integration.test_git_lfs import Git

SPACE = "alice/weights"
BIG = 10 * 1000 * 1000 + 1  # one byte over the Hub's line for regular files
BIG_PATH = "models/big [v1].bin"  # tracked by its own, escaped, .gitattributes line
LFS_LIMIT = 12 << 20  # PODIUM_LFS_OBJECT_MAX_BYTES here: BIG fits, LFS_LIMIT + 1 does not
GITATTRIBUTES = "*.onnx filter=lfs diff=lfs merge=lfs -text\n"


@pytest.fixture
def hub(tmp_path: Path, redis_url: str):  # type: ignore[no-untyped-def]
    require(shutil.which("git") is not None, "git is not installed")
    settings = api_settings(tmp_path, redis_url, lfs_object_max_bytes=LFS_LIMIT)
    with ServedApp(settings) as server:
        admin = token_for(server.url, "admin", ADMIN_PASSWORD)
        httpx.post(f"{server.url}/api/users", json={"username": "alice", "password": PASSWORD},
                   headers={"Authorization": f"Bearer {admin}"}).raise_for_status()
        token = token_for(server.url, "alice", PASSWORD)
        yield HfApi(endpoint=server.url, token=token), server, settings, tmp_path


def _store(settings, space: str) -> LfsStore:  # type: ignore[no-untyped-def]
    return LfsStore(SpaceId.parse(space).repo_path(settings.repos_dir))


def _clone(server_url: str, token: str, home: Path, dest: Path) -> Git:
    require(shutil.which("git-lfs") is not None, "git-lfs is not installed")
    git = Git(home, "alice", token)
    git("clone", "-q", f"{server_url}/spaces/{SPACE}", str(dest), cwd=home)
    return git


def test_large_and_gitattributes_files_go_to_lfs(hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, server, settings, _tmp = hub
    api.create_repo(SPACE, repo_type="space", space_sdk="static")
    big = os.urandom(BIG)
    small_onnx = b"\x08\x01onnx-ish" * 100
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / ".gitattributes").write_text(GITATTRIBUTES)
    (folder / "model.onnx").write_bytes(small_onnx)
    (folder / "index.html").write_text("<p>hi</p>\n")
    api.upload_folder(repo_id=SPACE, repo_type="space", folder_path=folder)
    api.upload_file(path_or_fileobj=big, path_in_repo=BIG_PATH, repo_id=SPACE,
                    repo_type="space")

    tree = {e.path: e for e in api.list_repo_tree(SPACE, repo_type="space", recursive=True)}
    for path, data in ((BIG_PATH, big), ("model.onnx", small_onnx)):
        entry = tree[path]
        assert entry.size == len(data), entry
        assert entry.lfs is not None and entry.lfs.sha256 == hashlib.sha256(data).hexdigest()
        assert entry.lfs.size == len(data) and entry.lfs.pointer_size < 200
        assert _store(settings, SPACE).has(entry.lfs.sha256, len(data))
        got = hf_hub_download(SPACE, path, repo_type="space", endpoint=server.url,
                              token=api.token, cache_dir=tmp_path / "cache")
        assert Path(got).read_bytes() == data
    assert tree["index.html"].lfs is None and tree[".gitattributes"].lfs is None
    info = api.get_paths_info(SPACE, [BIG_PATH], repo_type="space")
    assert info[0].lfs is not None and info[0].lfs.size == BIG

    # git with git-lfs sees the real file; the commit itself holds the pointer.
    clone = tmp_path / "clone"
    git = _clone(server.url, api.token, tmp_path / "home", clone)
    assert (clone / BIG_PATH).read_bytes() == big
    assert (clone / "model.onnx").read_bytes() == small_onnx
    raw = git("cat-file", "-p", f"HEAD:{BIG_PATH}", cwd=clone).stdout
    assert raw.startswith("version https://git-lfs.github.com/spec/v1\n"), raw
    assert f"size {BIG}\n" in raw


def test_an_lfs_file_operation_commits_an_object_uploaded_to_the_batch_api(hub) -> None:  # type: ignore[no-untyped-def]
    api, server, settings, _tmp = hub
    api.create_repo(SPACE, repo_type="space", space_sdk="static")
    data = os.urandom(300_000)
    info = UploadInfo.from_bytes(data)
    headers = {"Authorization": f"Bearer {api.token}"}
    actions, errors, _ = post_lfs_batch_info(
        upload_infos=[info], token=api.token, repo_type="space", repo_id=SPACE,
        endpoint=server.url, headers=headers)
    assert errors == [] and actions[0]["actions"]["upload"]["href"]

    # The PUT as git-lfs makes it, with the action's header (huggingface_hub's own PUT
    # sends none: it expects a presigned URL, which this server does not hand out).
    upload = actions[0]["actions"]["upload"]
    put = httpx.put(upload["href"], content=data, headers=upload["header"], timeout=60)
    assert put.status_code == 200, put.text
    oid = info.sha256.hex()
    assert _store(settings, SPACE).has(oid, len(data))

    lines = [{"key": "header", "value": {"summary": "lfs op"}},
             {"key": "lfsFile", "value": {"path": "blob.dat", "algo": "sha256", "oid": oid,
                                          "size": len(data)}}]
    body = "\n".join(json.dumps(x) for x in lines).encode()
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        made = http.post(f"/api/spaces/{SPACE}/commit/main", content=body,
                         headers={"Content-Type": "application/x-ndjson"})
        assert made.status_code == 200, made.text
        missing = http.post(f"/api/spaces/{SPACE}/commit/main", content=body.replace(
            oid.encode(), b"0" * 64), headers={"Content-Type": "application/x-ndjson"})
        assert missing.status_code == 400 and "no LFS object" in missing.text, missing.text
    entry = next(e for e in api.list_repo_tree(SPACE, repo_type="space") if e.path == "blob.dat")
    assert entry.lfs is not None and entry.lfs.sha256 == oid and entry.size == len(data)


def test_an_object_over_the_lfs_limit_is_refused_by_name(hub) -> None:  # type: ignore[no-untyped-def]
    api, _server, _settings, _tmp = hub
    api.create_repo(SPACE, repo_type="space", space_sdk="static")
    api.upload_file(path_or_fileobj=GITATTRIBUTES.encode(), path_in_repo=".gitattributes",
                    repo_id=SPACE, repo_type="space")
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"x" * (LFS_LIMIT + 1), path_in_repo="w.onnx",
                        repo_id=SPACE, repo_type="space")
    assert refused.value.response.status_code == 413
    assert "PODIUM_LFS_OBJECT_MAX_BYTES" in str(refused.value), str(refused.value)
