"""Issue 13 items 1 and 2 end to end: Hugging Face's own tools, pointed at Podium's public
port with HF_ENDPOINT and a Podium token, deploy a folder to a live Space through the whole
platform (`podium up`: API, worker, Docker engine, scheduler, proxy). `gradio deploy` makes
and fills the Space, the build runs like a push's, the app answers on its host; `hf upload`
changes it and the new version goes live; hf_hub_download reads it back through the proxy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gradio_client import Client
from huggingface_hub import hf_hub_download

from podium.names import SpaceId
from podium.resources import templates_dir
from podium.spaces.stage import Stage
from tests.e2e.conftest import Podium

SPACE = SpaceId("admin", "hf-deploy")
BIN = Path(sys.executable).parent
README = ("---\ntitle: hf-deploy\nemoji: 🤗\nsdk: gradio\nsdk_version: 6.31.0\n"
          "app_file: app.py\n---\n")


def _tool(podium: Podium, home: Path, cwd: Path, *args: str) -> str:
    env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(home),
           "HF_HOME": str(home / "hf"), "HF_ENDPOINT": podium.base_url,
           "HF_TOKEN": podium.api_token, "HF_HUB_DISABLE_TELEMETRY": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _greet(podium: Podium) -> str:
    url = podium.space_host_url(SPACE)
    return str(Client(url, verbose=False).predict("Ada", api_name="/predict"))


def test_gradio_deploy_then_hf_upload_go_live(podium_up: Podium, tmp_path: Path) -> None:
    folder = tmp_path / "hf-deploy"
    shutil.copytree(templates_dir() / "gradio-hello", folder)
    (folder / "README.md").write_text(README)

    out = _tool(podium_up, tmp_path, folder, "gradio", "deploy")
    assert str(SPACE) in out
    first = podium_up.wait_stage(SPACE, {Stage.RUNNING})
    assert _greet(podium_up) == "Hello, Ada!"

    app = (folder / "app.py").read_text().replace('f"Hello, {name}!"', 'f"Hi, {name}!"')
    (folder / "app.py").write_text(app)
    _tool(podium_up, tmp_path, folder, "hf", "upload", str(SPACE), "app.py", "app.py",
          "--repo-type", "space", "--commit-message", "greet shorter")
    for _ in range(900):  # the new version replaces the old one once it is healthy
        runtime = podium_up.runtime(SPACE)
        if runtime["sha"] != first["sha"] and runtime["stage"] == Stage.RUNNING:
            break
        time.sleep(1)
    assert runtime["sha"] != first["sha"], runtime
    assert _greet(podium_up) == "Hi, Ada!"

    # Through the public port: the proxy hands the resolve route to the API.
    path = hf_hub_download(str(SPACE), "app.py", repo_type="space", endpoint=podium_up.base_url,
                           token=podium_up.api_token, cache_dir=tmp_path / "cache")
    assert Path(path).read_text() == app
