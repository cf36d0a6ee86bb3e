"""Issue 14 item 2 end to end: dev mode. With dev mode on, a code-only push is copied into
the running container (as uid 1000) and Gradio's own reloader serves it, with no new
container; a push that changes requirements builds and swaps as usual; dev mode off goes
back to the immutable blue/green path. The real API, git server, rq worker, Docker engine,
scheduler and proxy, as `podium up` starts them, and the gradio-hello template.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
import httpx
import pytest

from podium.names import SpaceId
from podium.scheduler.warm import PATH_NEW, PATH_STANDBY
from podium.spaces.stage import Stage
from tests.e2e.conftest import BUILD_TIMEOUT, Podium

SPACE = SpaceId("admin", "devmode")
DESCRIPTION = '"Type a name and press Submit."'
RUNS_CODE = b"podium-standby: running the new code"  # runners/base/standby.py


def containers(client: docker.DockerClient, podium_up: Podium,
               space: SpaceId = SPACE) -> list:
    """The Space's containers that serve or start (not a warm standby waiting for code)."""
    found = client.containers.list(filters={"label": [
        f"podium.scope={podium_up.settings.instance}", f"podium.space_key={space.key}"]})
    return [c for c in found if "podium.standby" not in c.labels or runs_code(c)]


def runs_code(container) -> bool:  # type: ignore[no-untyped-def]
    """A container born as a standby that a deploy gave code (False once it is removed)."""
    try:
        return RUNS_CODE in container.logs()
    except docker.errors.APIError:  # being removed: a retired version
        return False


def waiting_standby(client: docker.DockerClient, podium_up: Podium, space: SpaceId = SPACE,
                    timeout: float = 180):
    """The Space's warm standby, once its SDK is imported and it is frozen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in client.containers.list(filters={"label": [
                f"podium.scope={podium_up.settings.instance}",
                f"podium.space_key={space.key}", "podium.standby"]}):
            if c.status == "paused" and not runs_code(c):
                return c
        time.sleep(0.5)
    pytest.fail(f"{space} got no warm standby")


def build_log(podium_up: Podium, space: SpaceId = SPACE) -> str:
    """The latest push's build and deploy log, read until the server ends it."""
    with podium_up.client() as api, api.stream(
            "GET", f"/api/spaces/{space}/logs/build", timeout=BUILD_TIMEOUT) as r:
        assert r.status_code == 200
        return "\n".join(r.iter_lines())


def one_container(client: docker.DockerClient, podium_up: Podium, space: SpaceId = SPACE,
                  timeout: float = 120):
    """The Space's one running container, once a replaced one is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = containers(client, podium_up, space)
        if len(found) == 1:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"{space} kept {len(found)} containers")


def served(podium_up: Podium, marker: str, timeout: float) -> float:
    """Seconds until the Space's config through the proxy carries ``marker``."""
    t0 = time.monotonic()
    url = podium_up.space_host_url(SPACE) + "config"
    while time.monotonic() - t0 < timeout:
        try:
            r = httpx.get(url, timeout=10, trust_env=False)
            if r.status_code == 200 and marker in r.text:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{marker} never served")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, podium_up: Podium) -> Path:
    with podium_up.client() as api:
        r = api.post("/api/spaces", json={"name": SPACE.name, "template": "gradio-hello"})
        assert r.status_code == 201, r.text
    podium_up.wait_stage(SPACE, {Stage.RUNNING})
    path = tmp_path_factory.mktemp("devmode") / "repo"
    url = (f"http://{podium_up.admin_user}:{podium_up.api_token}@127.0.0.1:"
           f"{podium_up.settings.public_port}/spaces/{SPACE}.git")
    subprocess.run(["git", "clone", "-q", url, str(path)], check=True)
    return path


def set_dev_mode(podium_up: Podium, on: bool) -> dict:
    with podium_up.client() as api:
        r = api.post(f"/api/spaces/{SPACE}/settings", json={"dev_mode": on})
        assert r.status_code == 200, r.text
        return r.json()


def test_a_code_push_in_dev_mode_reloads_in_the_same_container(
    podium_up: Podium, workdir: Path, docker_client: docker.DockerClient,
) -> None:
    before = one_container(docker_client, podium_up)
    assert set_dev_mode(podium_up, True)["dev_mode"] is True
    # Turning it on rebuilds and swaps in a container with the reloader on.
    deadline = time.monotonic() + BUILD_TIMEOUT
    while time.monotonic() < deadline:
        current = one_container(docker_client, podium_up)
        if current.id != before.id:
            break
        time.sleep(1)
    podium_up.wait_stage(SPACE, {Stage.RUNNING})
    dev = one_container(docker_client, podium_up)
    assert dev.id != before.id
    env = dict(e.split("=", 1) for e in dev.attrs["Config"]["Env"])
    assert env["GRADIO_WATCH_DIRS"]
    served(podium_up, "Type a name", 120)

    app = workdir / "app.py"
    app.write_text(app.read_text().replace(DESCRIPTION, '"dev-mode-one"'))
    out = podium_up.push(SPACE, workdir, "dev push")
    assert "Dev mode: 1 file(s) copied" in out, out
    served(podium_up, "dev-mode-one", 120)

    dev.reload()
    assert one_container(docker_client, podium_up).id == dev.id  # no new container
    commit = subprocess.run(["git", "-C", str(workdir), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert podium_up.runtime(SPACE)["sha"] == commit
    # The walls hold: the file is the Space user's, the container's limits are unchanged.
    owner, mode = dev.exec_run(["stat", "-c", "%u:%g %a", "app.py"]).output.decode().split()
    assert owner == "1000:1000" and int(mode, 8) & 0o7000 == 0, (owner, mode)
    host = dev.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in str(host["SecurityOpt"])
    assert host["Memory"] == before.attrs["HostConfig"]["Memory"]
    assert host["NanoCpus"] == before.attrs["HostConfig"]["NanoCpus"]
    assert dev.attrs["Config"]["User"] == before.attrs["Config"]["User"]

    # The background build of that push is adopted: same container, RUNNING.
    time.sleep(3)
    podium_up.wait_stage(SPACE, {Stage.RUNNING})
    assert one_container(docker_client, podium_up).id == dev.id


def test_a_requirements_push_in_dev_mode_builds_a_new_container(
    podium_up: Podium, workdir: Path, docker_client: docker.DockerClient,
) -> None:
    dev = one_container(docker_client, podium_up)
    (workdir / "requirements.txt").write_text("# a changed requirements file\n")
    app = workdir / "app.py"
    app.write_text(app.read_text().replace('"dev-mode-one"', '"dev-mode-two"'))
    out = podium_up.push(SPACE, workdir, "requirements")
    assert "requirements.txt changed" in out, out
    served(podium_up, "dev-mode-two", BUILD_TIMEOUT)
    assert one_container(docker_client, podium_up).id != dev.id


def test_dev_mode_off_goes_back_to_blue_green(
    podium_up: Podium, workdir: Path, docker_client: docker.DockerClient,
) -> None:
    dev = one_container(docker_client, podium_up)
    assert set_dev_mode(podium_up, False)["dev_mode"] is False
    deadline = time.monotonic() + BUILD_TIMEOUT
    while one_container(docker_client, podium_up).id == dev.id:
        assert time.monotonic() < deadline, "dev mode off did not rebuild"
        time.sleep(1)
    podium_up.wait_stage(SPACE, {Stage.RUNNING})
    plain = one_container(docker_client, podium_up)
    env = dict(e.split("=", 1) for e in plain.attrs["Config"]["Env"])
    assert "GRADIO_WATCH_DIRS" not in env and env["SYSTEM"] == "spaces"
    app = workdir / "app.py"
    app.write_text(app.read_text().replace('"dev-mode-two"', '"blue-green-again"'))
    out = podium_up.push(SPACE, workdir, "normal push")
    assert "Dev mode" not in out, out
    served(podium_up, "blue-green-again", BUILD_TIMEOUT)
    assert one_container(docker_client, podium_up).id != plain.id


def test_a_code_only_push_runs_in_the_warm_standby_and_a_restart_keeps_the_new_code(
    podium_up: Podium, workdir: Path, docker_client: docker.DockerClient,
) -> None:
    # Pushed again and again (the tests above) and out of dev mode: a standby waits.
    standby = waiting_standby(docker_client, podium_up)
    before = one_container(docker_client, podium_up)
    app = workdir / "app.py"
    app.write_text(app.read_text().replace('"blue-green-again"', '"warm-standby-one"'))
    podium_up.push(SPACE, workdir, "code only")
    log = build_log(podium_up)
    assert PATH_STANDBY in log, log
    served(podium_up, "warm-standby-one", 120)
    commit = subprocess.run(["git", "-C", str(workdir), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert podium_up.runtime(SPACE)["sha"] == commit
    live = one_container(docker_client, podium_up)
    assert live.id == standby.id  # the standby serves: no new container was started
    # What a container of the new image gets: same user, walls and limits.
    host, old = live.attrs["HostConfig"], before.attrs["HostConfig"]
    for key in ("CapDrop", "SecurityOpt", "Memory", "NanoCpus", "PidsLimit", "CgroupParent",
                "NetworkMode", "Binds", "Init"):
        assert host[key] == old[key], key
    assert live.attrs["Config"]["User"] == before.attrs["Config"]["User"]
    assert live.attrs["Config"]["Env"] == before.attrs["Config"]["Env"]
    assert commit in live.exec_run(["cat", "/podium-standby/live"]).output.decode()

    # Restarted by the engine, it runs the new code again at once (never waits, never the
    # previous commit's): the swapped code lives in its writable layer.
    docker_client.api.restart(live.id, timeout=10)
    served(podium_up, "warm-standby-one", 120)
    assert one_container(docker_client, podium_up).id == live.id
    assert podium_up.runtime(SPACE)["stage"] == Stage.RUNNING.value

    # A dependency change never runs in the standby (its layers below the code differ). A
    # real requirement: a comment-only change reuses the dependency layer as it is
    # (builder/incremental.py), so only the code would differ and the standby would serve.
    waiting_standby(docker_client, podium_up)
    (workdir / "requirements.txt").write_text("# changed dependencies\nsix\n")
    app.write_text(app.read_text().replace('"warm-standby-one"', '"after-deps"'))
    podium_up.push(SPACE, workdir, "deps")
    log = build_log(podium_up)
    assert f"{PATH_NEW} (dependencies" in log, log
    served(podium_up, "after-deps", BUILD_TIMEOUT)
