"""The real git client pushing to the API app (``create_app``: git dispatch + StoreGitAccess
+ the controller's push handler) served by uvicorn, with tokens made through the API."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from podium.names import SpaceId
from podium.resources import templates_dir
from podium.spaces.stage import BuildStatus
from podium.store import Database, find_space, latest_build
from tests.conftest import require
from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, ServedApp, api_settings


def git(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x", "LC_ALL": "C",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def wait_for(
    http: httpx.Client, path: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60,
) -> httpx.Response:
    """Poll ``path`` until its JSON satisfies ``done``."""
    deadline = time.monotonic() + timeout
    while True:
        reply = http.get(path)
        assert reply.status_code == 200, reply.text
        if done(reply.json()) or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def token_for(url: str, username: str, password: str) -> str:
    with httpx.Client(base_url=url) as http:
        assert http.post("/api/login", json={"username": username,
                                             "password": password}).status_code == 200
        return str(http.post("/api/tokens", json={"name": "git"}).json()["token"])


def test_git_push_of_a_template_commit_queues_a_build_and_refuses_others(
    tmp_path: Path, redis_url: str, redis_conn: redis.Redis,
) -> None:
    require(shutil.which("git") is not None, "git is not installed")
    # The import below fetches from this very server on loopback: opened by the allow-list.
    settings = api_settings(tmp_path, redis_url, push_handler="podium.controller.push:on_push",
                            egress_allow="127.0.0.1/32")
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    shutil.copytree(templates_dir(settings) / "gradio-hello", work)
    git(home, "init", "--quiet", "--initial-branch=main", cwd=work)
    git(home, "add", "--all", cwd=work)
    git(home, "commit", "--quiet", "-m", "hello", cwd=work)
    sha = git(home, "rev-parse", "HEAD", cwd=work).stdout.strip()

    with ServedApp(settings) as server:
        admin = token_for(server.url, "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}
                          ) as http:
            for user in ("alice", "bob"):
                http.post("/api/users", json={"username": user, "password": PASSWORD})
        alice = token_for(server.url, "alice", PASSWORD)
        bob = token_for(server.url, "bob", PASSWORD)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {alice}"}
                          ) as http:
            made = http.post("/api/spaces", json={"name": "pushed", "sdk": "gradio"})
        assert made.status_code == 201, made.text
        remote = f"http://{{}}@127.0.0.1:{server.port}/spaces/alice/pushed.git"
        repo = SpaceId("alice", "pushed").repo_path(settings.repos_dir)

        def refs() -> str:
            return git(home, "--git-dir", str(repo), "for-each-ref").stdout

        wrong = git(home, "push", remote.format("alice:pod_wrong"), "main", cwd=work)
        assert wrong.returncode != 0 and "Authentication failed" in wrong.stderr
        other = git(home, "push", remote.format(f"bob:{bob}"), "main", cwd=work)
        assert other.returncode != 0 and "403" in other.stderr
        assert refs() == ""  # nothing landed

        pushed = git(home, "push", remote.format(f"alice:{alice}"), "main", cwd=work)
        # Import over http from this very server: the pushed Space is public.
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {bob}"},
                          timeout=60) as http:
            imported = http.post("/api/spaces", json={
                "name": "imported", "from_url": f"{server.url}/spaces/alice/pushed.git"})
            local = http.post("/api/spaces", json={"name": "local", "from_url": f"file://{repo}"})
            # The clone runs off the request path: the Space is BUILDING until it lands.
            assert imported.status_code == 201, imported.text
            assert imported.json()["stage"] == "BUILDING"
            imported = wait_for(http, "/api/spaces/bob/imported",
                                lambda s: s["head_commit"] is not None)

    assert pushed.returncode == 0, pushed.stderr
    assert "remote: Podium: queued build" in pushed.stderr
    assert f"of alice/pushed at {sha[:12]} (pushed by alice)" in pushed.stderr
    assert "remote: Build logs: podium logs -f alice/pushed" in pushed.stderr
    assert sha in refs()
    db = Database(settings)
    try:
        with db.session() as session:
            space = find_space(session, SpaceId("alice", "pushed"))
            build = latest_build(session, space)
            assert space.head_commit == sha and space.title == "Hello Gradio"
            assert build.commit == sha and build.status == BuildStatus.QUEUED
    finally:
        db.dispose()

    assert imported.json()["head_commit"] == sha and imported.json()["title"] == "Hello Gradio"
    assert local.status_code == 400 and "http" in local.json()["hint"]
    db = Database(settings)
    try:
        with db.session() as session:
            copy = find_space(session, SpaceId("bob", "imported"))
            assert latest_build(session, copy).commit == sha
            assert find_space(session, SpaceId("bob", "local")) is None
    finally:
        db.dispose()
