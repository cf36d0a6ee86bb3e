"""Issue 15 item 4: `podium backup` while a platform runs, `podium restore` into an empty data
dir, and a second platform (new ports, new scope label, as on a fresh machine) on it: every
Space is rebuilt and serves through the proxy, the secret still decrypts inside the app,
/data comes back (--with-data), the LFS file is served, a token made on the first platform
works, and git clone works (LFS objects included)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from podium.config import Settings
from podium.names import SpaceId
from podium.services.redis_server import free_port
from podium.services.up import Started, start_platform
from podium.spaces.stage import Stage
from tests.conftest import release_quota_mounts, require
from tests.integration.test_git_lfs import Git, _lfs_repo
from tests.platforms import user_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]

ADMIN_PASSWORD = "backup-admin-password"
APP = SpaceId("admin", "app")
FILES = SpaceId("admin", "lfs")
SECRET = f"the-secret-{uuid.uuid4().hex[:8]}"
NOTE = f"kept-in-data-{uuid.uuid4().hex[:8]}"
APP_README = "---\ntitle: App\nsdk: docker\napp_port: 8000\n---\n"
APP_DOCKERFILE = 'FROM {base}\nCOPY app.py /app/app.py\nCMD ["python3", "-u", "/app/app.py"]\n'
# Answers the secret it was given and what /data holds; /write?<text> writes /data/note.txt.
APP_PY = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOTE = "/data/note.txt"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/write?"):
            with open(NOTE, "w") as out:
                out.write(self.path.split("?", 1)[1])
        note = open(NOTE).read() if os.path.exists(NOTE) else ""
        body = f"secret={os.environ.get('GREETING', '')} note={note}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


def _settings(data_dir: Path, base_image: str, label: str) -> Settings:
    return Settings(
        data_dir=data_dir, redis_url="", database_url="", public_port=free_port(),
        api_port=free_port(), admin_password=ADMIN_PASSWORD, base_image=base_image,
        instance=f"{label}-{uuid.uuid4().hex[:8]}", login_account_failures=1000,
        login_address_failures=1000,
    )


def _podium(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, configured only by the PODIUM_* environment of ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env.update(settings.to_env())
    return subprocess.run([sys.executable, "-m", "podium", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _api(settings: Settings, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{settings.public_port}", timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def _space_get(settings: Settings, space_id: SpaceId, path: str = "/") -> httpx.Response:
    host = f"{space_id.hostname(settings.domain)}:{settings.public_port}"
    return httpx.get(f"http://127.0.0.1:{settings.public_port}{path}", headers={"Host": host},
                     timeout=60)


def _wait_running(settings: Settings, token: str, space_id: SpaceId, timeout: float = 600,
                  ) -> dict:
    deadline, runtime = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        with _api(settings, token) as api:
            answer = api.get(f"/api/spaces/{space_id}/runtime")
        assert answer.status_code == 200, answer.text  # the token is accepted
        runtime = answer.json()
        if runtime["stage"] == Stage.RUNNING:
            return runtime
        if runtime["stage"] in (Stage.BUILD_ERROR, Stage.RUNTIME_ERROR, Stage.CONFIG_ERROR):
            pytest.fail(f"{space_id} ended {runtime['stage']}: {runtime}")
        time.sleep(1)
    pytest.fail(f"{space_id} not running after {timeout:.0f} s: {runtime}")


def _retire(one: Started) -> None:
    """Stop a platform and remove its containers, volumes and mounts: the machine is gone."""
    one.stop()
    client = docker.from_env()
    label = {"label": f"podium.scope={one.settings.instance}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    client.close()
    release_quota_mounts(one.settings.data_dir)


@pytest.fixture
def engine(docker_client: docker.DockerClient) -> Iterator[list[Started]]:
    """Platforms the test starts; the ones still running are retired after it."""
    started: list[Started] = []
    yield started
    for one in started:
        _retire(one)


def test_backup_while_running_then_restore_on_a_fresh_data_dir_serves_every_space(
    engine: list[Started], base_image: str, tmp_path: Path,
) -> None:
    require(shutil.which("git-lfs") is not None, "git-lfs is not installed")
    require(shutil.which("nginx") is not None, "nginx is not installed")
    a = start_platform(_settings(tmp_path / "a", base_image, "bk-a"), demo=False,
                       say=lambda _m: None)
    engine.append(a)
    token = user_token(a.settings, a.settings.admin_user)
    git = Git(tmp_path / "home", "admin", token)
    with _api(a.settings, token) as api:
        for space_id, sdk in ((APP, "docker"), (FILES, "static")):
            made = api.post("/api/spaces", json={"name": space_id.name, "sdk": sdk})
            assert made.status_code == 201, made.text
        added = api.post(f"/api/spaces/{APP}/secrets", json={"key": "GREETING", "value": SECRET})
        assert added.status_code == 200, added.text
    work = tmp_path / "app"
    work.mkdir()
    (work / "README.md").write_text(APP_README)
    (work / "Dockerfile").write_text(APP_DOCKERFILE.format(base=base_image))
    (work / "app.py").write_text(APP_PY)
    git("init", "-q", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "app", cwd=work)
    git("push", "-q", f"http://127.0.0.1:{a.settings.public_port}/spaces/{APP}", "HEAD:main",
        cwd=work)
    payload = os.urandom(500_000)
    _lfs_repo(git, tmp_path / "lfs", payload)
    git("push", "-q", f"http://127.0.0.1:{a.settings.public_port}/spaces/{FILES}", "HEAD:main",
        cwd=tmp_path / "lfs")
    for space_id in (APP, FILES):
        _wait_running(a.settings, token, space_id)
    written = _space_get(a.settings, APP, f"/write?{NOTE}")
    assert written.text == f"secret={SECRET} note={NOTE}", written.text

    archive = tmp_path / "podium-backup.tar.gz"
    made = _podium(a.settings, "backup", str(archive), "--with-data")  # A keeps running
    assert made.returncode == 0, made.stdout + made.stderr
    assert "2 Spaces" in made.stderr and "2 /data" in made.stderr, made.stderr
    assert _space_get(a.settings, APP).status_code == 200
    engine.remove(a)
    _retire(a)  # the old machine goes away, containers, images' users and mounts

    b_settings = _settings(tmp_path / "b", base_image, "bk-b")
    restored = _podium(b_settings, "restore", str(archive))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "2 Spaces are rebuilt" in restored.stderr, restored.stderr
    b = start_platform(b_settings, demo=False, say=lambda _m: None)
    engine.append(b)
    for space_id in (APP, FILES):
        _wait_running(b.settings, token, space_id)  # the token from A works on B
    served = _space_get(b.settings, APP)
    assert served.text == f"secret={SECRET} note={NOTE}", served.text
    assert _space_get(b.settings, FILES, "/data.bin").content == payload
    with _api(b.settings, token) as api:
        secrets = api.get(f"/api/spaces/{APP}/secrets")
        assert [s["key"] for s in secrets.json()] == ["GREETING"], secrets.text
    clone = tmp_path / "clone"
    git("clone", "-q", f"http://127.0.0.1:{b.settings.public_port}/spaces/{FILES}", str(clone),
        cwd=tmp_path)
    assert (clone / "data.bin").read_bytes() == payload
    # The restore is refused over B's data dir now that it holds a platform.
    again = _podium(b_settings, "restore", str(archive))
    assert again.returncode != 0 and "not empty" in again.stderr, again.stderr
