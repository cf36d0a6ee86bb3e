"""Issue 11 item 4 end to end: a push is followed in one stream until its app answers, and
the runtime's sha never lags the version that answers. The real API, git server, rq
worker, Docker engine, scheduler and proxy, started as `podium up` starts them.

The tests share one tiny Space (admin/stream: a Python HTTP server that answers with its
version) and run in file order: first push, second push (sha and `podium logs -f`), a push
whose app crashes at start.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from podium.cli import app as cli
from podium.errors import SpaceRuntimeError
from podium.names import SpaceId
from tests.e2e.conftest import BUILD_TIMEOUT, Podium

SPACE = SpaceId("admin", "stream")
README = "---\ntitle: Stream\nsdk: docker\napp_port: 8000\nstartup_duration_timeout: 2m\n---\n"
DOCKERFILE = 'FROM {base}\nCOPY app.py /app/app.py\nCMD ["python3", "-u", "/app/app.py"]\n'
APP = """
import http.server
VERSION = {version!r}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = VERSION.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, podium_up: Podium) -> Path:
    path = tmp_path_factory.mktemp("stream") / "repo"
    path.mkdir()
    (path / "README.md").write_text(README)
    (path / "Dockerfile").write_text(DOCKERFILE.format(base=podium_up.settings.base_image))
    return path


def write_version(workdir: Path, version: str, prefix: str = "") -> None:
    (workdir / "app.py").write_text(prefix + APP.format(version=version))


def follow(podium_up: Podium) -> list[tuple[str, dict]]:
    """The latest push's log over SSE, as a reader sees it, until the server ends it; at
    the terminal event, what the Space's URL answers (asked before reading on)."""
    events: list[tuple[str, dict]] = []
    path = f"/api/spaces/{SPACE}/logs/build"
    with podium_up.client() as api, api.stream("GET", path, timeout=BUILD_TIMEOUT) as r:
        assert r.status_code == 200
        name = "message"
        for raw in r.iter_lines():
            if raw.startswith("event:"):
                name = raw.split(":", 1)[1].strip()
            elif raw.startswith("data:"):
                data = json.loads(raw.split(":", 1)[1])
                if name in ("ready", "failed"):
                    data["answered"] = answer(podium_up)
                events.append((name, data))
                name = "message"
    return events


def answer(podium_up: Podium) -> str:
    try:
        r = httpx.get(podium_up.space_host_url(SPACE), timeout=10)
    except httpx.HTTPError as exc:
        return repr(exc)
    return r.text if r.status_code == 200 else f"{r.status_code}"


def test_a_push_is_followed_through_launching_until_ready_and_the_app_answers(
    podium_up: Podium, workdir: Path,
) -> None:
    with podium_up.client() as api:
        created = api.post("/api/spaces", json={"name": SPACE.name, "sdk": "docker"})
        assert created.status_code == 201, created.text
    write_version(workdir, "v1")
    podium_up.push(SPACE, workdir, "v1")

    events = follow(podium_up)

    terminals = [(name, data) for name, data in events if name != "message"]
    assert len(terminals) == 1 and events[-1] == terminals[0], terminals
    name, data = terminals[0]
    assert name == "ready", data
    phases = list(dict.fromkeys(d.get("phase") for n, d in events if n == "message"))
    assert phases[0] == "clone" and phases[-2:] == ["export", "launching"], phases
    # Ready means the app answers through the proxy, at once.
    assert data["answered"] == "v1"


def test_the_runtime_sha_is_the_new_commit_whenever_the_new_version_answers(
    podium_up: Podium, workdir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Polled side by side: the Space's URL first, then the runtime's sha. A reply from v2
    followed by a sha other than v2's commit is the lag (seconds on main: the sha was set
    only after the old version drained)."""
    deadline = time.monotonic() + BUILD_TIMEOUT
    while answer(podium_up) != "v1" or not podium_up.runtime(SPACE)["sha"]:
        assert time.monotonic() < deadline, "v1 never served"
        time.sleep(0.5)
    write_version(workdir, "v2")
    stop = threading.Event()
    seen: list[tuple[float, str | None]] = []  # (when, sha) read right after a v2 reply

    def poll() -> None:
        with podium_up.client() as api:
            # Bounded: at most 20,000 polls or until stopped, loopback only.
            for _ in range(20_000):
                if stop.is_set():
                    return
                if answer(podium_up) == "v2":
                    sha = api.get(f"/api/spaces/{SPACE}/runtime").json()["sha"]
                    seen.append((time.monotonic(), sha))
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        podium_up.push(SPACE, workdir, "v2")
        # `podium logs -f` follows the same push to its app answering.
        monkeypatch.setenv("PODIUM_URL", podium_up.base_url)
        monkeypatch.setenv("PODIUM_TOKEN", podium_up.api_token)
        result = CliRunner().invoke(cli, ["logs", "-f", str(SPACE)])
        deadline = time.monotonic() + 120
        while not seen and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(5)  # past the old version's drain, when main's sha caught up
    finally:
        stop.set()
        poller.join()
    commit = subprocess.run(["git", "-C", str(workdir), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert seen, "v2 never answered"
    lagging = [(at, sha) for at, sha in seen if sha != commit]
    assert lagging == [], (
        f"v2 answered while the runtime named {lagging[0][1]} for "
        f"{lagging[-1][0] - seen[0][0]:.2f} s after v2 first answered" if lagging else "")
    shown = result.stdout + result.stderr
    assert result.exit_code == 0, shown
    assert "Starting " in shown and "ready: the app answers" in shown
    assert shown.index("Starting ") < shown.index("ready: the app answers")


def test_an_app_that_crashes_at_start_ends_the_stream_with_the_reason(
    podium_up: Podium, workdir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_version(workdir, "v3", prefix="raise SystemExit('broken on purpose: no MODEL')\n")
    podium_up.push(SPACE, workdir, "crash at start")

    events = follow(podium_up)

    terminals = [(name, data) for name, data in events if name != "message"]
    assert len(terminals) == 1 and events[-1] == terminals[0], terminals
    name, data = terminals[0]
    assert (name, data["status"]) == ("failed", "SUCCEEDED"), data  # built, not started
    assert "exited with code 1" in data["reason"], data
    launching = [d["data"] for n, d in events if n == "message" and d.get("phase") == "launching"]
    assert any("broken on purpose" in line for line in launching), launching
    assert data["answered"] == "v2"  # the previous version keeps serving
    monkeypatch.setenv("PODIUM_URL", podium_up.base_url)
    monkeypatch.setenv("PODIUM_TOKEN", podium_up.api_token)
    result = CliRunner().invoke(cli, ["logs", "-f", str(SPACE)])
    assert result.exit_code == SpaceRuntimeError.exit_code, result.stdout
    assert "start failed: " in result.stdout and "exited with code 1" in result.stdout
