"""compose.yaml runs: the platform image built from deploy/platform.Dockerfile (on the
offline base image), the stack brought up with Debian's docker-compose 1.29 on free host
ports, a Space pushed with git through the compose proxy and reached by its host name, then
`docker-compose down -v`.

Everything is named by one unique project name: the compose project (its containers,
network and volumes), the image tags, and PODIUM_INSTANCE, the scope label of the Spaces
the stack starts on the host's engine (removed here by that label: they are the
platform's, not compose's). One module, one stack: the image build is the slow part (cold
about six minutes on two cores; a code change rebuilds only the last layer)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from podium.children import free_port
from podium.names import SpaceId
from podium.resources import templates_dir
from tests.conftest import REPO_ROOT, require
from tests.e2e.conftest import BUILD_TIMEOUT, CA_BUNDLE
from tests.platforms import remove_space_containers

ADMIN_PASSWORD = "compose-admin-password"
SPACE = SpaceId("admin", "hello")


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    port: int
    token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker-compose", "-p", self.project, "-f", str(REPO_ROOT / "compose.yaml"),
             *args], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False)

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", timeout=60).stdout[-8000:]


def build_context() -> bytes:
    """The repository as git sees it (tracked and untracked files, .gitignore honoured), plus
    deploy/extra-ca.crt: the CA bundle pip trusts inside the build (PODIUM_CA_BUNDLE)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in filter(None, listed):
            if (REPO_ROOT / name).is_file():
                tar.add(REPO_ROOT / name, arcname=name)
        tar.add(CA_BUNDLE, arcname="deploy/extra-ca.crt")
    return buffer.getvalue()


def build_image(docker_client, tag: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    """`docker build -f deploy/platform.Dockerfile` (the classic builder, as compose 1.29
    and Debian's docker.io build), streamed into ``log``."""
    error = ""
    with log.open("w") as out:
        for chunk in docker_client.api.build(
                fileobj=io.BytesIO(build_context()), custom_context=True, encoding=None,
                dockerfile="deploy/platform.Dockerfile", tag=tag, rm=True, decode=True):
            out.write(chunk.get("stream", ""))
            error = chunk.get("error", error)
    assert not error, f"{error}\n{log.read_text()[-4000:]}"


def _wait(check, timeout: float, what: str, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{what} after {timeout:.0f} s\n{stack.logs()}")


@pytest.fixture(scope="module")
def stack(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, docker_client, base_image
) -> Iterator[Stack]:
    require(shutil.which("docker-compose") is not None,
            "docker-compose is not installed (apt-get install docker-compose)")
    require(CA_BUNDLE.is_file(), f"no CA bundle at {CA_BUNDLE} for pip inside builds")
    project = f"podiumtest{uuid.uuid4().hex[:10]}"
    image = f"podium/platform:{project}"
    logs = tmp_path_factory.mktemp("compose")
    build_image(docker_client, image, logs / "build.log")
    port = free_port()
    env = {**os.environ, "PODIUM_PLATFORM_IMAGE": image, "PODIUM_PUBLIC_PORT": str(port),
           "PODIUM_COMPOSE_REDIS_PORT": str(free_port()),
           "PODIUM_COMPOSE_API_PORT": str(free_port()),
           "PODIUM_PROMETHEUS_PORT": str(free_port()),
           "PODIUM_PROMETHEUS_IMAGE": f"podium/prometheus:{project}",
           "PODIUM_ADMIN_PASSWORD": ADMIN_PASSWORD, "PODIUM_INSTANCE": project,
           "PODIUM_BASE_IMAGE": base_image, "PODIUM_CA_BUNDLE": str(CA_BUNDLE),
           "PODIUM_DOMAIN": "localhost"}
    # Not this process's settings: the caller's PODIUM_* must not leak into the stack.
    env = {k: v for k, v in env.items()
           if not k.startswith("PODIUM_") or k in {
               "PODIUM_PLATFORM_IMAGE", "PODIUM_PUBLIC_PORT", "PODIUM_COMPOSE_REDIS_PORT",
               "PODIUM_COMPOSE_API_PORT", "PODIUM_PROMETHEUS_PORT", "PODIUM_PROMETHEUS_IMAGE",
               "PODIUM_ADMIN_PASSWORD", "PODIUM_INSTANCE", "PODIUM_BASE_IMAGE",
               "PODIUM_CA_BUNDLE", "PODIUM_DOMAIN"}}
    found = Stack(project, env, port)
    try:
        up = found.compose("--profile", "metrics", "up", "-d", "--build", timeout=1200)
        assert up.returncode == 0, up.stderr[-4000:]
        _wait(lambda: httpx.get(f"{found.base_url}/api/health", timeout=3).status_code == 200,
              180, "the stack did not answer /api/health through the proxy", found)
        found.token = _token(found)
        yield found
    finally:
        (logs / "compose.log").write_text(found.logs())
        down = found.compose("--profile", "metrics", "down", "-v", "--remove-orphans")
        remove_space_containers(docker_client, project)
        for tag in (image, env["PODIUM_PROMETHEUS_IMAGE"]):
            try:
                docker_client.images.remove(tag, noprune=True)
            except Exception:  # noqa: BLE001 - a build that failed left no tag
                pass
        assert down.returncode == 0, down.stderr


def _token(stack: Stack) -> str:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        login = http.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        made = http.post("/api/tokens", json={"name": "compose-test", "scope": "write"})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


def test_a_space_pushed_through_the_compose_proxy_serves_by_its_host(
    stack: Stack, tmp_path: Path,
) -> None:
    auth = {"Authorization": f"Bearer {stack.token}"}
    created = httpx.post(f"{stack.base_url}/api/spaces", headers=auth, timeout=30,
                         json={"name": SPACE.name, "sdk": "gradio"})
    assert created.status_code == 201, created.text
    work = tmp_path / "repo"
    shutil.copytree(templates_dir() / "gradio-hello", work)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@x"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "hello"], check=True)
    url = f"http://admin:{stack.token}@127.0.0.1:{stack.port}/spaces/{SPACE}.git"
    pushed = subprocess.run([*git, "push", "-q", url, "HEAD:main"], capture_output=True,
                            text=True, timeout=120, check=False)
    assert pushed.returncode == 0, pushed.stderr

    def running() -> bool:
        runtime = httpx.get(f"{stack.base_url}/api/spaces/{SPACE}/runtime", headers=auth,
                            timeout=10).json()
        assert runtime["stage"] not in {"BUILD_ERROR", "RUNTIME_ERROR", "CONFIG_ERROR"}, runtime
        return runtime["stage"] == "RUNNING"

    _wait(running, BUILD_TIMEOUT, f"{SPACE} is not RUNNING", stack)
    host_url = f"http://{SPACE.hostname('localhost')}:{stack.port}/"
    page = httpx.get(host_url, timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
    # The app works through the compose proxy (its event stream included).
    assert Client(host_url, verbose=False).predict("Ada", api_name="/predict") == "Hello, Ada!"
    # The Space's container is the platform's, on the host's engine, under this stack's scope.
    listed = subprocess.run(["docker", "ps", "-q", "--filter",
                             f"label=podium.scope={stack.project}"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert len(listed) == 1


def test_prometheus_scrapes_the_api_service(stack: Stack) -> None:
    prometheus = f"http://127.0.0.1:{stack.env['PODIUM_PROMETHEUS_PORT']}"

    def targets() -> list[dict]:
        return httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"][
            "activeTargets"]

    _wait(lambda: bool(targets()), 120, "Prometheus has no target", stack)
    (target,) = targets()
    assert target["labels"]["job"] == "podium-api"
    assert target["scrapeUrl"] == "http://api:9464/metrics"
    # Never published: the API's metrics port is not on the host.
    assert subprocess.run(["docker-compose", "-p", stack.project, "port", "api", "9464"],
                          cwd=REPO_ROOT, env=stack.env, capture_output=True, text=True,
                          check=False).stdout.strip() in {"", ":0"}
    print(json.dumps({"prometheus_target_health": target["health"]}))
