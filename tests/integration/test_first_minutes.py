"""Issue 13, item 7: the first minutes of a Spaces user, against the real platform (`podium
up`'s parts with the nginx-lua data plane, real git, the real Docker engine, the real CLI).

(a) The live URL `git push` prints shows "no app yet", "building" and "build failed" pages
    linking to the logs, never the "Space not found" 404, while a private Space still
    looks missing to a stranger;
(b) a push to a paused Space says in `remote:` lines that it stays paused and how to
    resume, and the paused page names `podium resume` and the dashboard's Resume button;
(c) `podium create` without `--sdk` makes an empty Space whose SDK the first push sets."""

from __future__ import annotations

import os
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
from podium.spaces.stage import Stage
from tests.integration.test_git_lfs import ADMIN_PASSWORD, STATIC_README, Git, Up
from tests.platforms import platform_running, user_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]

# Builds for a while, then fails: the "building" page first, then "build failed".
SLOW_FAILING = "FROM {base}\nRUN sleep 20\nRUN echo broken-on-purpose && exit 3\n"
DOCKER_README = "---\ntitle: Slow\nsdk: docker\napp_port: 8000\n---\n"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
       base_image: str) -> Iterator[Up]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("first-minutes"), redis_url="", database_url="",
        public_port=free_port(), api_port=free_port(), admin_password=ADMIN_PASSWORD,
        base_image=base_image, instance=f"first-{uuid.uuid4().hex[:8]}",
        login_account_failures=1000, login_address_failures=1000,
    )
    with platform_running(settings, docker_client) as started:
        yield Up(started, user_token(started.settings, settings.admin_user),
                 user_token(started.settings, "stranger", "stranger-password-123"))


def _live(up: Up, space: SpaceId) -> httpx.Response:
    """The live URL as a browser opens it."""
    host = f"{space.hostname(up.settings.domain)}:{up.settings.public_port}"
    return httpx.get(f"{up.base}/", headers={"Host": host, "Accept": "text/html"}, timeout=30)


def _create(up: Up, space: SpaceId, sdk: str, private: bool = False) -> None:
    with up.api() as api:
        made = api.post("/api/spaces", json={"name": space.name, "sdk": sdk, "private": private})
        assert made.status_code == 201, made.text


def _push(up: Up, tmp_path: Path, space: SpaceId, files: dict[str, str]) -> str:
    git = Git(tmp_path / f"home-{space.name}", "admin", up.token)
    work = tmp_path / f"work-{space.name}"
    work.mkdir()
    git("init", "-q", cwd=work)
    for name, text in files.items():
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    pushed = git("push", f"{up.base}/spaces/{space}", "HEAD:main", cwd=work)
    return pushed.stderr


def _wait_stage(up: Up, space: SpaceId, stage: Stage, timeout: float = 300) -> None:
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        with up.api() as api:
            seen = api.get(f"/api/spaces/{space}/runtime").json()["stage"]
        if seen == stage:
            return
        time.sleep(0.5)
    pytest.fail(f"{space} never reached {stage} (last {seen})")


def test_item7a_the_live_url_of_a_space_that_has_not_run_says_why(
    up: Up, tmp_path: Path, base_image: str,
) -> None:
    space = SpaceId("admin", "slow")
    _create(up, space, "docker")
    empty = _live(up, space)
    assert empty.status_code == 503, empty.text
    assert "No app yet" in empty.text and "Space not found" not in empty.text
    _push(up, tmp_path, space, {"README.md": DOCKER_README,
                                "Dockerfile": SLOW_FAILING.format(base=base_image)})
    logs = f'href="{up.settings.public_base_url}/{space}/logs"'
    building = _live(up, space)
    assert building.status_code == 503, building.text
    assert "Building" in building.text and logs in building.text, building.text
    _wait_stage(up, space, Stage.BUILD_ERROR)
    failed = _live(up, space)
    assert failed.status_code == 503 and "Build failed" in failed.text, failed.text
    assert logs in failed.text


def test_item7a_a_private_space_that_has_not_run_still_looks_missing(
    up: Up, tmp_path: Path, base_image: str,
) -> None:
    space, missing = SpaceId("admin", "veiled"), SpaceId("admin", "absent")
    _create(up, space, "docker", private=True)
    _push(up, tmp_path, space, {"README.md": DOCKER_README,
                                "Dockerfile": SLOW_FAILING.format(base=base_image)})
    for _ in range(2):  # while building, then once the build failed
        theirs, none = _live(up, space), _live(up, missing)
        assert theirs.status_code == none.status_code == 404
        assert theirs.text.replace(space.name, "?") == none.text.replace(missing.name, "?")
        _wait_stage(up, space, Stage.BUILD_ERROR)


def test_item7b_a_push_to_a_paused_space_says_it_stays_paused(up: Up, tmp_path: Path) -> None:
    space = SpaceId("admin", "snooze")
    _create(up, space, "static")
    with up.api() as api:
        assert api.post(f"/api/spaces/{space}/pause").status_code == 200
    remote = _push(up, tmp_path, space, {"README.md": STATIC_README, "index.html": "<p>z</p>"})
    assert "stays paused" in remote, remote
    assert f"podium resume {space}" in remote and "Resume button" in remote, remote
    for _ in range(2):  # while it builds, and once built
        page = _live(up, space)
        assert page.status_code == 503 and "Paused" in page.text, page.text
        assert f"podium resume {space}" in page.text and "Resume button" in page.text
        _wait_stage(up, space, Stage.PAUSED)
        time.sleep(3)  # the build ends PAUSED too


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("PODIUM_URL", None)
    env.pop("PODIUM_TOKEN", None)
    return subprocess.run([sys.executable, "-c", "from podium.cli import app; app()", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_item7c_create_without_sdk_detects_it_at_the_first_push(
    up: Up, tmp_path: Path,
) -> None:
    login = _cli(tmp_path, "login", "--url", up.base, "--username", "admin",
                 "--password", ADMIN_PASSWORD)
    assert login.returncode == 0, login.stdout + login.stderr
    made = _cli(tmp_path, "create", "admin/nosdk")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "sdk set by the first push" in made.stdout, made.stdout
    space = SpaceId("admin", "nosdk")
    _push(up, tmp_path, space, {"README.md": STATIC_README, "index.html": "<p>hi</p>"})
    _wait_stage(up, space, Stage.RUNNING)
    with up.api() as api:
        assert api.get(f"/api/spaces/{space}").json()["sdk"] == "static"


def test_a_running_private_space_answers_strangers_as_a_missing_one(
    up: Up, tmp_path: Path,
) -> None:
    # The wall (a) leans on: the proxy's page for a private Space a stranger may not open.
    space, missing = SpaceId("admin", "hushed"), SpaceId("admin", "nobody")
    _create(up, space, "static", private=True)
    _push(up, tmp_path, space, {"README.md": STATIC_README, "index.html": "<p>s</p>"})
    _wait_stage(up, space, Stage.RUNNING)
    theirs, none = _live(up, space), _live(up, missing)
    assert theirs.status_code == none.status_code == 404
    assert theirs.text.replace(space.name, "?") == none.text.replace(missing.name, "?")
