"""The real `podium` client commands (typer's CliRunner, in process) against the real API
served by uvicorn on a loopback port, with a real Redis, SQLite and git. No worker runs, so
the build the template queues stays QUEUED, which `podium logs` must say."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from podium.cli import app
from podium.errors import NotFound, Unauthorized
from podium.names import SpaceId
from podium.store import Cipher, Database, find_space, latest_build, secret_values
from tests.integration.api_helpers import ADMIN_PASSWORD, ServedApp, api_settings


@pytest.fixture
def served(tmp_path: Path, redis_url: str, redis_conn: redis.Redis,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedApp]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for var in ("PODIUM_URL", "PODIUM_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    settings = api_settings(tmp_path, redis_url)
    with ServedApp(settings) as server:
        server.settings = settings  # type: ignore[attr-defined]
        yield server


def podium(*args: str, input: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == code, (args, result.exit_code, result.output, result.stderr)
    return result.stdout + result.stderr


def test_login_token_create_status_secrets_and_logs_of_a_queued_build(
    served: ServedApp, tmp_path: Path,
) -> None:
    podium("login", "--url", served.url, "--username", "admin", "--password", ADMIN_PASSWORD)
    creds = tmp_path / "config" / "podium" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert json.loads(creds.read_text())["url"] == served.url
    assert podium("whoami").strip() == "admin (admin)"

    token = CliRunner().invoke(app, ["token", "create", "ci", "--scope", "read"])
    assert token.exit_code == 0 and token.stdout.strip().startswith("pod_")
    assert "ci" in podium("token", "list")

    created = podium("create", "admin/demo", "--template", "gradio-hello")
    assert "created admin/demo" in created
    assert "http://podium.test:8080/spaces/admin/demo.git" in created
    assert "podium logs -f admin/demo" in created

    table = podium("status")
    assert "admin/demo" in table and "BUILDING" in table
    one = podium("status", "admin/demo")
    assert "BUILDING" in one and "QUEUED" in one

    podium("secrets", "set", "admin/demo", "HF_TOKEN", "-", input="hf_abc123\n")
    podium("variables", "set", "admin/demo", "MODEL", "tiny")
    listed = podium("secrets", "list", "admin/demo")
    assert "HF_TOKEN" in listed and "hf_abc123" not in listed
    assert "MODEL=tiny" in podium("variables", "list", "admin/demo")
    db = Database(served.settings)  # type: ignore[attr-defined]
    try:
        with db.session() as session:
            space = find_space(session, SpaceId("admin", "demo"))
            stored = secret_values(session, Cipher(served.settings), space)  # type: ignore[attr-defined]
            build = latest_build(session, space)
    finally:
        db.dispose()
    assert stored == {"HF_TOKEN": "hf_abc123"}  # stdin's trailing newline is not the value

    logs = podium("logs", "admin/demo")
    assert f"build {build.id[:12]} is QUEUED" in logs

    paused = podium("pause", "admin/demo")
    assert "PAUSED" in paused
    assert "BUILDING" in podium("resume", "admin/demo")


def test_errors_keep_their_exit_codes_and_messages(served: ServedApp) -> None:
    out = podium("whoami", code=Unauthorized.exit_code)
    assert "not logged in" in out and "podium login" in out
    out = podium("login", "--url", served.url, "--token", "pod_wrong",
                 code=Unauthorized.exit_code)
    assert "invalid or revoked API token" in out
    podium("login", "--url", served.url, "-u", "admin", "-p", ADMIN_PASSWORD)
    out = podium("status", "admin/missing", code=NotFound.exit_code)
    assert "admin/missing not found" in out
    out = podium("secrets", "set", "admin/missing", "K", "v", code=NotFound.exit_code)
    assert "not found" in out
    podium("create", "admin/empty", "--sdk", "gradio")
    out = podium("restart", "admin/empty", code=2)
    assert "no code to build" in out and "push" in out


@pytest.mark.parametrize("started", [True, False])
def test_logs_follow_a_push_through_launching_to_its_end(
    served: ServedApp, redis_conn: redis.Redis, started: bool,
) -> None:
    """`podium logs -f` follows the push past the built image, through the deploy's
    ``launching`` lines, to ``ready`` (exit 0) or a failed start (the runtime error's exit
    code). The stream is written here as the job and the deployer write it."""
    from podium.builds.logs import BuildLog
    from podium.errors import SpaceRuntimeError
    from podium.spaces.stage import BuildPhase, BuildStatus
    from podium.store import builds as store_builds

    podium("login", "--url", served.url, "--username", "admin", "--password", ADMIN_PASSWORD)
    podium("create", "admin/demo", "--template", "gradio-hello")
    db = Database(served.settings)  # type: ignore[attr-defined]
    try:
        with db.session() as session:
            build = latest_build(session, find_space(session, SpaceId("admin", "demo")))
            store_builds.mark_started(session, build)
            blog = BuildLog(redis_conn, str(build.id))
            blog.write(BuildPhase.EXPORT, "built the image")
            store_builds.mark_finished(session, build, BuildStatus.SUCCEEDED, image="img:1",
                                       log=blog.text)
    finally:
        db.dispose()
    blog.write(BuildPhase.LAUNCHING, "Starting abc: waiting for the app")
    if started:
        blog.write(BuildPhase.LAUNCHING, "The app answers: abc is live")
        blog.ready()
        out = podium("logs", "-f", "admin/demo")
        assert out.index("built the image") < out.index("Starting abc") < out.index(
            "ready: the app answers")
    else:
        blog.failed(BuildStatus.SUCCEEDED, "the app exited with code 1")
        out = podium("logs", "-f", "admin/demo", code=SpaceRuntimeError.exit_code)
        assert out.index("Starting abc") < out.index(
            "start failed: the app exited with code 1")
