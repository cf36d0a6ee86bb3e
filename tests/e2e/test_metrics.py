"""Issue 15 item 1: a real Prometheus (Debian's) scrapes the running platform's metrics
listener, and PromQL over its HTTP API sees a push move the build counter, requests through
the proxy move the request counter, and the Space RUNNING in spaces-by-stage, with its
container's memory sampled by the scheduler. ``/metrics`` through the public port is never
the metrics, and the listener is bound to loopback only.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from podium.names import SpaceId
from podium.services.redis_server import free_port
from podium.spaces.stage import Stage
from tests.conftest import require
from tests.e2e.conftest import Podium

SPACE = SpaceId("admin", "metered")
README = "---\ntitle: Metered\nsdk: static\napp_file: index.html\n---\n"
REQUESTS = 7
CONFIG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: podium
    scrape_interval: 1s
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


@pytest.fixture(scope="module")
def prometheus(podium_up: Podium, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's prometheus, scraping the platform every second: its own config and storage
    under tmp, listening on a free loopback port. Yields its base URL."""
    binary = shutil.which("prometheus")
    require(binary is not None, "prometheus is not installed (./dev setup installs it)")
    assert binary is not None
    home = tmp_path_factory.mktemp("prometheus")
    config = home / "prometheus.yml"
    config.write_text(CONFIG.format(port=podium_up.settings.metrics_port))
    listen = f"127.0.0.1:{free_port()}"
    log = (home / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address={listen}", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT, cwd=home,
    )
    url = f"http://{listen}"
    try:
        _wait_ready(url, process, home / "prometheus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready: {log.read_text()[-2000:]}")


def query(prometheus: str, promql: str) -> float | None:
    """The instant query's one value (None when it has no series)."""
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    assert len(result) <= 1, (promql, result)
    return float(result[0]["value"][1]) if result else None


def wait_query(prometheus: str, promql: str, ok, timeout: float = 60.0) -> float | None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = query(prometheus, promql)
        if ok(value):
            return value
        time.sleep(0.5)
    pytest.fail(f"{promql} stayed at {value} for {timeout:.0f} s")


def test_prometheus_sees_a_push_and_its_requests_move_the_counters(
    podium_up: Podium, prometheus: str, tmp_path: Path,
) -> None:
    wait_query(prometheus, 'up{job="podium"}', lambda v: v == 1)
    succeeded = 'sum(podium_builds_total{outcome="succeeded"}) or vector(0)'
    builds_before = query(prometheus, succeeded)
    assert builds_before is not None
    requests = (f'sum(podium_space_requests_total{{space="{SPACE.key}",status_class="2xx"}})'
                " or vector(0)")
    assert query(prometheus, requests) == 0

    with podium_up.client() as api:
        created = api.post("/api/spaces", json={"name": SPACE.name, "sdk": "static"})
        assert created.status_code == 201, created.text
    workdir = tmp_path / "repo"
    workdir.mkdir()
    (workdir / "README.md").write_text(README)
    (workdir / "index.html").write_text("<!doctype html><title>metered</title><p>hi</p>")
    podium_up.push(SPACE, workdir, "metered")
    podium_up.wait_stage(SPACE, {Stage.RUNNING})
    with httpx.Client(timeout=30) as client:
        for _ in range(REQUESTS):
            answer = client.get(podium_up.space_host_url(SPACE))
            assert answer.status_code == 200 and "metered" in answer.text

    # The build counter moved (the push's build succeeded), and its phases were timed.
    wait_query(prometheus, succeeded, lambda v: v is not None and v > builds_before)
    assert (query(prometheus, 'sum(podium_build_phase_seconds_count{phase="export"})') or 0) > 0
    # nginx served the requests; its access log counted them.
    wait_query(prometheus, requests, lambda v: v is not None and v >= REQUESTS)
    latency = f'sum(podium_space_request_seconds_count{{space="{SPACE.key}"}})'
    assert (query(prometheus, latency) or 0) >= REQUESTS
    # The deploy was timed; the Space shows RUNNING; its container was sampled.
    assert (query(prometheus, 'sum(podium_deploy_seconds_count{kind="first"})') or 0) >= 1
    wait_query(prometheus, 'podium_spaces{stage="RUNNING"}', lambda v: v is not None and v >= 1)
    memory = f'podium_space_memory_bytes{{space="{SPACE.key}"}}'
    wait_query(prometheus, memory, lambda v: v is not None and v > 0)


def test_metrics_are_not_served_through_the_public_port(podium_up: Podium) -> None:
    settings = podium_up.settings
    direct = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=10)
    assert direct.status_code == 200 and "podium_builds_total" in direct.text
    for url in (f"{podium_up.base_url}/metrics",
                f"http://127.0.0.1:{settings.public_port}/metrics",
                podium_up.space_host_url(SPACE) + "metrics"):
        answer = httpx.get(url, timeout=30)
        assert "podium_builds_total" not in answer.text, url
        assert "# TYPE podium_" not in answer.text, url
    # Bound to loopback only: no other address of this host answers on the metrics port.
    listening = [c for c in psutil.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == settings.metrics_port]
    assert listening, "nothing listens on the metrics port"
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
