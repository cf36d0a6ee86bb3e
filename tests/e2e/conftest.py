"""The whole platform, started the way `podium up` starts it (embedded Redis, api, worker,
proxy and scheduler processes, demo Space), once for this package: stopped after its last
test, not at the session's end, so it costs the later tests nothing.

Hostnames: Spaces live at {owner}-{name}.localhost. Browsers resolve every *.localhost name
to loopback (RFC 6761); Python's resolver does not, so the session teaches it the same rule
(`localhost_resolver`) instead of editing /etc/hosts.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.testing import localhost_resolver as resolve_localhost
from podium.services.redis_server import free_port
from podium.services.up import Started
from podium.spaces.stage import Stage
from tests.conftest import release_quota_mounts, require
from tests.platforms import platform_running, user_token

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ADMIN_PASSWORD = "e2e-admin-password"
# A first gradio build downloads the SDK; later ones reuse its layers.
BUILD_TIMEOUT = 900.0


@dataclass
class Podium:
    started: Started
    api_token: str

    @property
    def settings(self) -> Settings:
        return self.started.settings

    @property
    def base_url(self) -> str:
        return self.settings.public_base_url

    @property
    def admin_user(self) -> str:
        return self.settings.admin_user

    @property
    def admin_password(self) -> str:
        return ADMIN_PASSWORD

    def space_host_url(self, space_id: SpaceId) -> str:
        return f"http://{space_id.hostname(self.settings.domain)}:{self.settings.public_port}/"

    def space_path_url(self, space_id: SpaceId) -> str:
        return f"{self.base_url}/spaces/{space_id}/"

    def client(self, token: str | None = None) -> httpx.Client:
        token = self.api_token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def runtime(self, space_id: SpaceId) -> dict:
        with self.client() as c:
            r = c.get(f"/api/spaces/{space_id}/runtime")
            r.raise_for_status()
            return r.json()

    def wait_stage(
        self, space_id: SpaceId, stages: set[Stage], timeout: float = BUILD_TIMEOUT,
        unless: set[Stage] | None = None,
    ) -> dict:
        """Poll the runtime until its stage is one of ``stages``; fail fast on ``unless``."""
        unless = unless if unless is not None else {
            Stage.BUILD_ERROR, Stage.RUNTIME_ERROR, Stage.CONFIG_ERROR, Stage.NO_APP_FILE,
        }
        deadline = time.monotonic() + timeout
        runtime: dict = {}
        while time.monotonic() < deadline:
            runtime = self.runtime(space_id)
            if runtime["stage"] in stages:
                return runtime
            if runtime["stage"] in unless:
                pytest.fail(f"{space_id} ended {runtime['stage']}: {runtime}")
            time.sleep(1)
        pytest.fail(f"{space_id} not in {stages} after {timeout:.0f} s: {runtime}")

    def push(self, space_id: SpaceId, workdir: Path, message: str = "update") -> str:
        """Commit everything in ``workdir`` and git push it with the admin's token."""
        url = (f"http://{self.admin_user}:{self.api_token}@127.0.0.1:"
               f"{self.settings.public_port}/spaces/{space_id}.git")
        git = ["git", "-C", str(workdir), "-c", "user.name=e2e", "-c", "user.email=e2e@x"]
        if not (workdir / ".git").exists():
            subprocess.run(["git", "init", "-q", "-b", "main", str(workdir)], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)
        out = subprocess.run([*git, "push", "-q", url, "HEAD:main"], check=True,
                             capture_output=True, text=True)
        return out.stderr


@pytest.fixture(scope="session", autouse=True)
def localhost_resolver() -> Iterator[None]:
    with resolve_localhost():
        yield


@pytest.fixture(scope="package")
def podium_up(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, docker_client, base_image
) -> Iterator[Podium]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    require(CA_BUNDLE.is_file(), f"no CA bundle at {CA_BUNDLE} for pip inside builds")
    data = tmp_path_factory.mktemp("podium")
    settings = Settings(
        data_dir=data, redis_url="", database_url="", public_port=free_port(),
        api_port=free_port(), admin_password=ADMIN_PASSWORD, ca_bundle=CA_BUNDLE,
        base_image=base_image, instance=f"e2e-{uuid.uuid4().hex[:8]}",
        # A metrics listener of its own (tests/e2e/test_metrics.py scrapes it), sampling
        # container usage often enough for a test to see it.
        metrics_port=free_port(), metrics_usage_interval=2,
        # As installed: a Space pushed again soon gets a warm standby (test_dev_mode.py).
        standby_window=900,
        # No idle freeze after 300 s: the package runs for ~10 minutes and its tests expect
        # the demo Space awake (test_no_outside_host waited for RUNNING on a Space frozen
        # meanwhile). Sleep and wake are driven explicitly (test_spaces_live.py); freezing
        # is tested in tests/integration/test_idle_freeze.py.
        freeze_after=0,
    )
    try:
        with platform_running(settings, docker_client, demo=True) as started:
            yield Podium(started, user_token(started.settings, settings.admin_user, name="e2e"))
    finally:
        release_quota_mounts(data)

