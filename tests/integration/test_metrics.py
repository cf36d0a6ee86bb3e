"""The metrics collector on real parts: series recorded into a real Redis by the code paths
the processes use (a build's end, nginx's activity log reader, the scheduler's usage
sample), Spaces and builds in a real SQLite store, rendered by ``serve_metrics`` on a real
listener and read back with prometheus_client's own parser."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from podium.config import Settings
from podium.metrics.catalog import DEPLOY, WAKE
from podium.metrics.events import PhaseClock, build_finished
from podium.metrics.exporter import serve_metrics
from podium.metrics.recorder import Recorder
from podium.names import SpaceId
from podium.proxy.plane.nginx import ActivityLog
from podium.routes import RouteTable
from podium.services.redis_server import free_port
from podium.spaces.stage import BuildPhase, BuildStatus, Stage
from podium.store import Database, create_build, create_space, mark_started, set_stage


@pytest.fixture
def metrics_settings(settings: Settings, redis_url: str, redis_conn) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"redis_url": redis_url, "metrics_port": free_port()})
    db = Database(s)
    db.migrate()
    db.dispose()
    yield s


def scrape(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=10)
    answer.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on {port}")


def test_everything_recorded_and_counted_is_served(
    metrics_settings: Settings, redis_conn, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    s = metrics_settings
    recorder = Recorder(redis_conn)
    # A build's end, as the worker records it (two processes' worth: they add up).
    for outcome in (BuildStatus.SUCCEEDED, BuildStatus.SUCCEEDED, BuildStatus.FAILED):
        clock = PhaseClock()
        clock.mark(BuildPhase.DEPENDENCIES)
        recorder.send(build_finished(outcome, clock))
    recorder.observe(DEPLOY, 2.5, kind="first")
    recorder.observe(WAKE, 0.04, depth="light")
    # nginx's access log, read by the proxy's activity thread.
    log_path = tmp_path / "activity.log"
    reader = ActivityLog(RouteTable(redis_conn), log_path)
    log_path.write_bytes(b"alice/demo 200 0.010\nalice/demo 200 0.020\nalice/demo 503 0.5\n"
                         b"alice/demo 200 0.0")  # unfinished: waits for the next read
    reader.collect()
    assert redis_conn.hget("podium:activity", "alice/demo") is not None
    # The scheduler's samples: a Space last seen an hour ago, then one running now (the
    # second sample forgets the first).
    recorder.put_usage({"bob/old": (1.0, 1.0)}, forget_after=45, now=time.time() - 3600)
    assert redis_conn.hget("podium:metrics:usage", "bob/old") is not None
    recorder.put_usage({"alice/demo": (12.5, 300e6)}, forget_after=45)
    # The store: three Spaces, one of them running, and a build queued.
    db = Database(s)
    with db.session() as session:
        running = create_space(session, SpaceId("alice", "demo"), sdk="gradio")
        set_stage(session, running, Stage.RUNNING)
        create_space(session, SpaceId("bob", "one"), sdk="gradio")
        other = create_space(session, SpaceId("bob", "two"), sdk="gradio")
        set_stage(session, other, Stage.SLEEPING)
        create_build(session, other, "a" * 40)
        mark_started(session, create_build(session, running, "b" * 40))
    db.dispose()

    assert serve_metrics(s)
    wait_listening(s.metrics_port)
    got = scrape(s)
    assert got[("podium_builds_total", (("outcome", "succeeded"),))] == 2
    assert got[("podium_builds_total", (("outcome", "failed"),))] == 1
    assert got[("podium_build_phase_seconds_count", (("phase", "dependencies"),))] == 3
    assert got[("podium_deploy_seconds_bucket", (("kind", "first"), ("le", "3.0")))] == 1
    assert got[("podium_deploy_seconds_bucket", (("kind", "first"), ("le", "2.0")))] == 0
    assert got[("podium_wake_seconds_count", (("depth", "light"),))] == 1
    space = ("space", "alice/demo")
    assert got[("podium_space_requests_total", (space, ("status_class", "2xx")))] == 2
    assert got[("podium_space_requests_total", (space, ("status_class", "5xx")))] == 1
    assert got[("podium_space_request_seconds_count", (space,))] == 3
    assert got[("podium_space_request_seconds_sum", (space,))] == pytest.approx(0.53)
    assert got[("podium_spaces", (("stage", "RUNNING"),))] == 1
    assert got[("podium_spaces", (("stage", "SLEEPING"),))] == 1
    assert got[("podium_spaces", (("stage", "NO_APP_FILE"),))] == 1
    assert got[("podium_spaces", (("stage", "PAUSED"),))] == 0
    assert got[("podium_build_queue_depth", ())] == 1
    assert got[("podium_builds_running", ())] == 1
    assert got[("podium_space_cpu_seconds_total", (space,))] == 12.5
    assert got[("podium_space_memory_bytes", (space,))] == 300e6
    # The stale sample is neither served nor kept.
    assert not any(labels == (("space", "bob/old"),) for _, labels in got)
    assert redis_conn.hget("podium:metrics:usage", "bob/old") is None

    # The unfinished line counts once nginx ends it, and only then.
    with log_path.open("ab") as out:
        out.write(b"01\n")
    reader.collect()
    assert scrape(s)[("podium_space_requests_total", (space, ("status_class", "2xx")))] == 3


def test_no_listener_when_off_or_the_port_is_taken(metrics_settings: Settings) -> None:
    assert not serve_metrics(metrics_settings.model_copy(update={"metrics_port": 0}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The API still starts: its metrics listener is what gives way (logged).
        assert not serve_metrics(metrics_settings.model_copy(update={"metrics_port": port}))
