"""The Hugging Face command-line tools, unchanged, pointed at Podium with HF_ENDPOINT and a
Podium token (issue 13 item 2): huggingface_hub's ``hf upload`` and Gradio's ``gradio
deploy`` put a folder into a Space non-interactively, and the commit they make is built
like a git push."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import require
from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, ServedApp, api_settings
from tests.integration.test_api_git import token_for
from tests.integration.test_hf_hub import APP, _build_commit

BIN = Path(sys.executable).parent


@pytest.fixture
def served(tmp_path: Path, redis_url: str, redis_conn: redis.Redis):  # type: ignore[no-untyped-def]
    require(shutil.which("git") is not None, "git is not installed")
    for tool in ("hf", "gradio"):
        require((BIN / tool).exists(), f"{tool} is not installed in this venv")
    settings = api_settings(tmp_path, redis_url, push_handler="podium.controller.push:on_push")
    with ServedApp(settings) as server:
        admin = token_for(server.url, "admin", ADMIN_PASSWORD)
        httpx.post(f"{server.url}/api/users", headers={"Authorization": f"Bearer {admin}"},
                   json={"username": "alice", "password": PASSWORD})
        yield server, settings, token_for(server.url, "alice", PASSWORD)


def _run(tool: str, args: list[str], cwd: Path, url: str, token: str, home: Path
         ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home), "HF_HOME": str(home / "hf"),
           "HF_ENDPOINT": url, "HF_TOKEN": token, "HF_HUB_DISABLE_TELEMETRY": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run([str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _files(url: str, token: str, space: str) -> set[str]:
    reply = httpx.get(f"{url}/api/spaces/{space}/tree",
                      headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    return {item["path"] for item in reply.json()}


def test_hf_upload_creates_and_fills_a_space(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, settings, token = served
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "README.md").write_text("---\ntitle: Up\nsdk: gradio\napp_file: app.py\n---\n")
    _run("hf", ["upload", "alice/up", ".", ".", "--repo-type", "space"], folder, server.url,
         token, tmp_path)
    assert _files(server.url, token, "alice/up") == {"README.md", "app.py"}
    head = httpx.get(f"{server.url}/api/spaces/alice/up").json()["head_commit"]
    assert head and _build_commit(settings, "alice/up") == head


def test_gradio_deploy_runs_without_questions(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, settings, token = served
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    # With a README that has its front matter, gradio deploy asks nothing.
    (folder / "README.md").write_text(
        "---\ntitle: gdeploy\nsdk: gradio\napp_file: app.py\n---\n")
    done = _run("gradio", ["deploy"], folder, server.url, token, tmp_path)
    assert "alice/gdeploy" in done.stdout
    assert _files(server.url, token, "alice/gdeploy") == {"README.md", "app.py"}
    head = httpx.get(f"{server.url}/api/spaces/alice/gdeploy").json()["head_commit"]
    assert head and _build_commit(settings, "alice/gdeploy") == head
