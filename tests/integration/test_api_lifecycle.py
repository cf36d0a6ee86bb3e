"""The API steering a Space that really runs: a tiny image (FROM the offline base) stands in
for a finished build, deployed by the controller's run_spec through a real Docker scheduler
(its own label scope, so no other Podium on this engine sees these containers). Secret and
variable changes restart it with the new environment, pause/resume stop and start it,
privacy reaches the route at once, and delete leaves no container, volume or route."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
from fastapi.testclient import TestClient

from podium.builds.deploys import DeployRequest
from podium.builds.logs import read_build_log
from podium.controller.deploy import deploy, run_spec
from podium.controller.platform import Platform
from podium.controller.secrets import secrets_provider
from podium.names import SpaceId
from podium.scheduler.docker import DockerBackend
from podium.scheduler.service import Scheduler
from podium.store import get_space, update_space
from podium.web import create_api
from tests.conftest import build_image, require
from tests.integration.api_helpers import add_user, api_settings, bearer, login_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]

APP = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("API_KEY", "-").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
print("serving", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 7860), H).serve_forever()
"""
DOCKERFILE = """FROM {base}
COPY app.py /app/app.py
CMD ["python3", "-u", "/app/app.py"]
"""


@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    ref = f"podium-test/api-app:{uuid.uuid4().hex[:10]}"
    build_image(docker_client, ref, {"Dockerfile": DOCKERFILE.format(base=base_image),
                                     "app.py": APP})
    yield ref
    docker_client.images.remove(ref, force=True)


class Live:
    def __init__(self, client: TestClient, platform: Platform, backend: DockerBackend,
                 docker_client: docker.DockerClient) -> None:
        self.client = client
        self.platform = platform
        self.backend = backend
        self.docker = docker_client
        admin = login_token(client, "admin", "admin-password-1")
        self.token = add_user(client, admin, "alice")
        # Unique, as a leak on failure may land in the default label scope (see teardown).
        self.space_id = SpaceId("alice", f"live-{uuid.uuid4().hex[:8]}")
        self.key = self.space_id.key

    def call(self, method: str, path: str, **kw: Any) -> Any:
        reply = self.client.request(method, f"/api/spaces/{self.space_id}{path}",
                                    headers=bearer(self.token), **kw)
        assert reply.status_code < 300, reply.text
        return reply.json()

    def running(self) -> list[Any]:
        return [i for i in self.backend.list_instances(self.key) if i.running]

    def env(self) -> dict[str, str]:
        (instance,) = self.running()
        pairs = self.docker.containers.get(instance.id).attrs["Config"]["Env"]
        return dict(p.split("=", 1) for p in pairs)


@pytest.fixture
def live(tmp_path: Path, redis_url: str, redis_conn: redis.Redis,
         docker_client: docker.DockerClient, image: str) -> Iterator[Live]:
    require(shutil.which("iptables") is not None, "iptables is not installed")
    settings = api_settings(tmp_path, redis_url)
    platform = Platform(settings)
    backend = DockerBackend(settings, docker_client, scope=f"test-{uuid.uuid4().hex[:8]}")
    # The Platform's scheduler, built as Platform builds it, on a label scope of our own.
    platform.__dict__["scheduler"] = Scheduler(
        settings, backend, platform.routes, platform.redis,
        secrets_provider=secrets_provider(platform.db, platform.cipher),
        on_change=platform.record_stage,
        drain_s=0.2,
    )
    env: Live | None = None
    try:
        with TestClient(create_api(settings, platform)) as client:
            env = Live(client, platform, backend, docker_client)
            space_id = env.space_id
            made = client.post("/api/spaces", headers=bearer(env.token),
                               json={"name": space_id.name, "template": "gradio-hello"})
            commit = made.json()["head_commit"]
            # What the deploy handler does once the build succeeded.
            platform.scheduler.deploy(run_spec(platform, space_id, image, 7860, "gradio", commit))
            with platform.db.session() as session:
                update_space(session, get_space(session, space_id), deployed_commit=commit,
                             deployed_image=image)
            yield env
    finally:
        if env is not None:
            # The default scope too: a deploy handler that ignored pause would start there.
            for scoped in (backend, DockerBackend(settings, docker_client)):
                for instance in scoped.list_instances(env.key):
                    scoped.remove(instance)
            backend.remove_volume(env.space_id)
        platform.close()


def test_secret_and_variable_changes_restart_with_the_new_environment(live: Live) -> None:
    assert live.call("GET", "/runtime")["stage"] == "RUNNING"
    assert "API_KEY" not in live.env()
    first = live.running()[0].id

    live.call("POST", "/secrets", json={"key": "API_KEY", "value": "v1"})

    runtime = live.call("GET", "/runtime")
    assert runtime["stage"] == "RUNNING" and runtime["sha"]
    assert live.env()["API_KEY"] == "v1" and live.running()[0].id != first
    live.call("POST", "/variables", json={"key": "MODEL", "value": "tiny"})
    env = live.env()
    assert env["MODEL"] == "tiny" and env["API_KEY"] == "v1"  # variables re-read from the store
    live.call("DELETE", "/variables", json={"key": "MODEL"})
    assert "MODEL" not in live.env()


def test_pause_resume_privacy_and_delete(live: Live) -> None:
    assert live.call("POST", "/pause")["stage"] == "PAUSED"
    assert live.running() == []
    live.call("POST", "/secrets", json={"key": "API_KEY", "value": "while-paused"})
    assert live.running() == []  # a paused Space stays stopped when a secret changes

    assert live.call("POST", "/resume")["stage"] in {"APP_STARTING", "RUNNING"}
    assert live.call("GET", "/runtime")["stage"] == "RUNNING"
    assert live.env()["API_KEY"] == "while-paused"

    live.call("POST", "/settings", json={"private": True})
    assert live.platform.routes.get(live.key).private is True
    live.call("POST", "/restart")
    assert live.platform.routes.get(live.key).private is True  # kept across restarts

    live.call("DELETE", "")
    assert live.backend.list_instances(live.key) == []
    assert live.platform.routes.get(live.key) is None
    with pytest.raises(docker.errors.NotFound):
        live.docker.volumes.get(live.space_id.data_volume(live.backend.scope))
    assert not live.backend.storage.has_data(live.space_id)


def test_a_build_finishing_while_paused_is_kept_for_the_resume(live: Live, image: str) -> None:
    live.call("POST", "/pause")
    commit = live.call("GET", "")["head_commit"]

    deploy(live.platform, DeployRequest(live.space_id.key, "build-id", image, 7860, "gradio",
                                        commit, time.time()))
    # Nothing started: the push's stream ends failed, naming the pause.
    (end,) = [e for e in read_build_log(live.platform.redis, "build-id") if e.is_terminal]
    assert end.event == "failed" and "paused" in (end.reason or "")

    assert live.call("GET", "/runtime")["stage"] == "PAUSED"
    assert live.running() == []
    assert DockerBackend(live.platform.settings, live.docker).list_instances(live.key) == []
    assert live.call("POST", "/resume")
    assert live.call("GET", "/runtime")["stage"] == "RUNNING" and len(live.running()) == 1
