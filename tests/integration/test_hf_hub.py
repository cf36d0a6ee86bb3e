"""huggingface_hub, unchanged, against the real API app (issue 13 item 1): every method a
Spaces user calls, through ``HfApi(endpoint=..., token=<podium token>)``, asserting on what
comes back; and a commit made through the Hub API is built like a git push."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import redis
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from podium.names import SpaceId
from podium.store import Database, find_space, latest_build
from tests.conftest import require
from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, ServedApp, api_settings
from tests.integration.test_api_git import token_for

APP = "import gradio as gr\ngr.Interface(lambda x: x, 'text', 'text').launch()\n"
README = "---\ntitle: Demo\nemoji: 🚀\nsdk: gradio\napp_file: app.py\n---\n"


@pytest.fixture
def hub(tmp_path: Path, redis_url: str, redis_conn: redis.Redis):  # type: ignore[no-untyped-def]
    require(shutil.which("git") is not None, "git is not installed")
    settings = api_settings(tmp_path, redis_url, push_handler="podium.controller.push:on_push")
    with ServedApp(settings) as server:
        admin = token_for(server.url, "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}
                          ) as http:
            for user in ("alice", "bob"):
                http.post("/api/users", json={"username": user, "password": PASSWORD})
        token = token_for(server.url, "alice", PASSWORD)
        yield HfApi(endpoint=server.url, token=token), server, settings, tmp_path


def _build_commit(settings, space: str) -> str | None:  # type: ignore[no-untyped-def]
    db = Database(settings)
    try:
        with db.session() as session:
            build = latest_build(session, find_space(session, SpaceId.parse(space)))
            return build.commit if build is not None else None
    finally:
        db.dispose()


def test_repo_lifecycle_info_and_listing(hub) -> None:  # type: ignore[no-untyped-def]
    api, server, _settings, _tmp = hub
    assert api.whoami()["name"] == "alice"
    url = api.create_repo("alice/demo", repo_type="space", space_sdk="gradio")
    assert url.repo_id == "alice/demo" and url.repo_type == "space"
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_repo("alice/demo", repo_type="space", space_sdk="gradio")
    assert exists.value.response.status_code == 409
    api.create_repo("alice/demo", repo_type="space", space_sdk="gradio", exist_ok=True)
    api.create_repo("alice/other", repo_type="space", space_sdk="static", private=True)
    assert api.repo_exists("alice/demo", repo_type="space")
    assert not api.repo_exists("alice/nope", repo_type="space")
    anonymous = HfApi(endpoint=server.url, token=False)
    assert not anonymous.repo_exists("alice/other", repo_type="space")

    info = api.space_info("alice/demo")
    assert (info.id, info.author, info.sdk, info.private) == ("alice/demo", "alice", "gradio",
                                                              False)
    assert info.siblings == [] and info.runtime is not None and info.last_modified is not None

    api.update_repo_settings("alice/demo", repo_type="space", private=True)
    assert api.space_info("alice/demo").private is True
    assert not anonymous.repo_exists("alice/demo", repo_type="space")
    api.update_repo_settings("alice/demo", repo_type="space", private=False)

    listed = list(api.list_spaces(author="alice", search="dem", sort="lastModified", limit=5,
                                  full=True))
    assert [s.id for s in listed] == ["alice/demo"] and listed[0].siblings == []
    assert {s.id for s in api.list_spaces(author="alice")} == {"alice/demo", "alice/other"}
    assert {s.id for s in anonymous.list_spaces()} == {"alice/demo"}
    assert len(list(api.list_spaces(limit=1))) == 1
    for i in range(30):  # past one page (24): list_spaces() follows the Link header
        api.create_repo(f"alice/many{i}", repo_type="space", space_sdk="static")
    assert len(list(api.list_spaces(author="alice"))) == 32
    assert len(list(api.list_spaces(author="alice", limit=27))) == 27

    api.move_repo("alice/other", "alice/renamed", repo_type="space")
    assert api.repo_exists("alice/renamed", repo_type="space")
    assert not api.repo_exists("alice/other", repo_type="space")
    assert api.space_info("alice/renamed").private is True
    api.delete_repo("alice/renamed", repo_type="space")
    assert not api.repo_exists("alice/renamed", repo_type="space")
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo("alice/renamed", repo_type="space")
    api.delete_repo("alice/renamed", repo_type="space", missing_ok=True)


def test_uploads_downloads_and_history(hub) -> None:  # type: ignore[no-untyped-def]
    api, _server, settings, tmp = hub
    api.create_repo("alice/files", repo_type="space", space_sdk="gradio")
    folder = tmp / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "app.py").write_text(APP)
    (folder / "README.md").write_text(README)
    (folder / "sub" / "data.txt").write_text("data\n")
    first = api.upload_folder(repo_id="alice/files", repo_type="space", folder_path=folder,
                              commit_message="first")
    # Built like a push: the build queued is of the commit the API just made.
    assert _build_commit(settings, "alice/files") == first.oid
    assert sorted(api.list_repo_files("alice/files", repo_type="space")) == [
        "README.md", "app.py", "sub/data.txt"]
    info = api.space_info("alice/files")
    assert info.sha == first.oid and info.card_data.title == "Demo"
    assert {s.rfilename for s in info.siblings} == {"README.md", "app.py", "sub/data.txt"}

    second = api.upload_file(path_or_fileobj=b"more\n", path_in_repo="sub/more.txt",
                             repo_id="alice/files", repo_type="space")
    assert _build_commit(settings, "alice/files") == second.oid
    tree = {e.path: type(e).__name__ for e in
            api.list_repo_tree("alice/files", repo_type="space", recursive=True)}
    assert tree["sub"] == "RepoFolder" and tree["sub/more.txt"] == "RepoFile"
    top = {e.path for e in api.list_repo_tree("alice/files", repo_type="space")}
    assert top == {"README.md", "app.py", "sub"}
    found = api.get_paths_info("alice/files", ["app.py", "missing.txt"], repo_type="space")
    assert [(f.path, f.size) for f in found] == [("app.py", len(APP))]

    path = hf_hub_download("alice/files", "app.py", repo_type="space", endpoint=api.endpoint,
                           token=api.token, cache_dir=tmp / "cache")
    assert Path(path).read_text() == APP
    snap = Path(snapshot_download("alice/files", repo_type="space", endpoint=api.endpoint,
                                  token=api.token, cache_dir=tmp / "cache2"))
    assert (snap / "sub" / "more.txt").read_text() == "more\n"

    commits = api.list_repo_commits("alice/files", repo_type="space")
    assert [c.commit_id for c in commits][:2] == [second.oid, first.oid]
    assert commits[1].title == "first" and commits[0].authors == ["alice"]
    refs = api.list_repo_refs("alice/files", repo_type="space")
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", second.oid)]

    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit("alice/files", repo_type="space", commit_message="stale",
                          parent_commit=first.oid,
                          operations=[CommitOperationAdd("x.txt", b"x")])
    assert stale.value.response.status_code == 412
    api.delete_file("sub/data.txt", repo_id="alice/files", repo_type="space")
    assert "sub/data.txt" not in api.list_repo_files("alice/files", repo_type="space")
    api.delete_folder("sub", repo_id="alice/files", repo_type="space")
    assert sorted(api.list_repo_files("alice/files", repo_type="space")) == [
        "README.md", "app.py"]


def test_space_runtime_settings_and_env(hub) -> None:  # type: ignore[no-untyped-def]
    api, server, _settings, _tmp = hub
    api.create_repo("alice/env", repo_type="space", space_sdk="gradio",
                    space_variables=[{"key": "MODE", "value": "demo"}],
                    space_secrets=[{"key": "TOKEN", "value": "s3cret"}])
    assert api.get_space_variables("alice/env")["MODE"].value == "demo"
    after = api.add_space_variable("alice/env", "LEVEL", "3", description="how much")
    assert set(after) == {"MODE", "LEVEL"} and after["LEVEL"].description == "how much"
    left = api.delete_space_variable("alice/env", "MODE")
    assert set(left) == {"LEVEL"}
    api.add_space_secret("alice/env", "OTHER", "x")
    api.delete_space_secret("alice/env", "OTHER")

    api.upload_file(path_or_fileobj=APP.encode(), path_in_repo="app.py", repo_id="alice/env",
                    repo_type="space")
    runtime = api.get_space_runtime("alice/env")
    assert runtime.hardware == "cpu-basic"
    slept = api.set_space_sleep_time("alice/env", 600)
    assert slept.sleep_time == 600
    with pytest.raises(HfHubHTTPError) as gpu:
        api.request_space_hardware("alice/env", "t4-medium")
    assert gpu.value.response.status_code == 400 and "cpu-basic" in str(gpu.value)
    assert api.pause_space("alice/env").stage == "PAUSED"
    restarted = api.restart_space("alice/env", factory_reboot=True)
    assert restarted.stage != "PAUSED"

    copy = api.duplicate_repo("alice/env", "alice/env-copy", repo_type="space",
                              space_variables=[{"key": "EXTRA", "value": "1"}],
                              space_secrets=[{"key": "NEW", "value": "n"}], space_sleep_time=60)
    assert copy.repo_id == "alice/env-copy"
    assert api.list_repo_files("alice/env-copy", repo_type="space") == ["app.py"]
    assert set(api.get_space_variables("alice/env-copy")) == {"LEVEL", "EXTRA"}
    assert api.get_space_runtime("alice/env-copy").sleep_time == 60
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api.token}"}
                      ) as http:
        names = {s["key"] for s in http.get("/api/spaces/alice/env-copy/secrets").json()}
    assert names == {"NEW"}  # the source's secrets never travel with a duplicate


def test_hub_routes_keep_the_walls(hub) -> None:  # type: ignore[no-untyped-def]
    """Attacks through the same client: another user, a read-only token and an anonymous
    caller cannot change or read what they may not; commit paths cannot leave the tree or
    reach .git; a served file is a sandboxed download, never a page on Podium's origin."""
    api, server, settings, _tmp = hub
    api.create_repo("alice/walls", repo_type="space", space_sdk="static", private=True)
    api.upload_file(path_or_fileobj=b"<script>alert(1)</script>", path_in_repo="index.html",
                    repo_id="alice/walls", repo_type="space")
    bob = HfApi(endpoint=server.url, token=token_for(server.url, "bob", PASSWORD))
    anonymous = HfApi(endpoint=server.url, token=False)
    for outsider in (bob, anonymous):
        with pytest.raises(RepositoryNotFoundError):
            outsider.list_repo_files("alice/walls", repo_type="space")
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download("alice/walls", "index.html", repo_type="space",
                            endpoint=server.url, token=outsider.token or False,
                            cache_dir=_tmp / "outsider")
        with pytest.raises(HfHubHTTPError):
            outsider.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt",
                                 repo_id="alice/walls", repo_type="space")
        with pytest.raises(HfHubHTTPError):
            outsider.delete_repo("alice/walls", repo_type="space")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api.token}"}
                      ) as http:
        made = http.post("/api/tokens", json={"name": "ro", "scope": "read"}).json()["token"]
    reader = HfApi(endpoint=server.url, token=made)
    assert reader.list_repo_files("alice/walls", repo_type="space") == ["index.html"]
    with pytest.raises(HfHubHTTPError) as read_only:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/walls",
                           repo_type="space")
    assert read_only.value.response.status_code == 403
    # The client refuses these paths itself; a hostile caller sends the NDJSON by hand.
    for bad in ("../escape.txt", ".git/hooks/post-receive", "a/../../b", "sub/.GIT/config"):
        lines = [{"key": "header", "value": {"summary": "x"}},
                 {"key": "file", "value": {"path": bad, "content": "eA==",
                                           "encoding": "base64"}}]
        refused = httpx.post(f"{server.url}/api/spaces/alice/walls/commit/main",
                             content="\n".join(json.dumps(x) for x in lines),
                             headers={"Authorization": f"Bearer {api.token}",
                                      "Content-Type": "application/x-ndjson"})
        assert refused.status_code == 400, (bad, refused.text)
    assert api.list_repo_files("alice/walls", repo_type="space") == ["index.html"]
    assert not (settings.repos_dir / "alice" / "escape.txt").exists()

    served = httpx.get(f"{server.url}/spaces/alice/walls/resolve/main/index.html",
                       headers={"Authorization": f"Bearer {api.token}"})
    assert served.status_code == 200 and served.content.startswith(b"<script>")
    assert served.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"] == "attachment"
