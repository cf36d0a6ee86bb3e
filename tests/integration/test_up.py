"""`podium up` as a user runs it: one command starts Redis (embedded), the API, worker,
proxy and scheduler; SIGTERM stops them all, and so does killing `podium up` outright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from podium.services.redis_server import free_port
from tests.conftest import require

ROLES = {"api", "worker", "proxy", "scheduler"}


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    port = free_port()
    env = {
        **os.environ, "PODIUM_DATA_DIR": str(tmp_path / "data"), "PODIUM_PUBLIC_PORT": str(port),
        "PODIUM_API_PORT": str(free_port()), "PODIUM_INSTANCE": f"up-test-{port}",
        "PODIUM_REDIS_URL": "",
    }
    proc = subprocess.Popen([sys.executable, "-m", "podium", "up", "--no-demo"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("podium up did not answer on its public port")


def _children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(proc.pid).children(recursive=False):
        cmd = " ".join(child.cmdline())
        if "redis-server" in cmd or any(cmd.endswith(f"podium {r}") for r in ROLES):
            found.append(child)
    return found


def _gone(processes: list[psutil.Process], timeout: float = 30) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


def test_up_serves_through_the_proxy_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    proc, port = _start(tmp_path)
    children = _children(proc)
    try:
        roles = {c.cmdline()[-1] for c in children if "redis-server" not in c.cmdline()[0]}
        assert roles == ROLES
        assert any("redis-server" in c.cmdline()[0] for c in children)
        # The API answers through the proxy, the single public door.
        assert httpx.get(f"http://127.0.0.1:{port}/api/health").json()["status"] == "ok"
        assert (tmp_path / "data" / "redis").is_dir()
        assert (tmp_path / "data" / "podium.db").is_file()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert _gone(children)


def test_children_die_when_up_is_killed_outright(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path)
    children = _children(proc)  # the roles and the embedded redis-server
    assert len(children) == len(ROLES) + 1
    proc.kill()
    proc.wait()
    assert _gone(children)
