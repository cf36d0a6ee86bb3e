"""Unit tests of the pieces of podium.builds that need no service."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rq.job import validate_job_id

from podium.builds.lease import ProcessId
from podium.builds.logs import LogEvent, _sse_from_event
from podium.builds.queue import build_job_id
from podium.config import Settings
from podium.names import SpaceId


def test_job_id_is_stable_and_valid_for_rq() -> None:
    space = SpaceId("Alice", "My_Demo.v2")
    job_id = build_job_id(space, "a" * 40)
    validate_job_id(job_id)
    assert job_id == build_job_id(SpaceId("alice", "my_demo.v2"), "a" * 40)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # Same subdomain slug, different Spaces: ids must still differ.
        ((SpaceId("alice-x", "demo"), "c1", False), (SpaceId("alice", "x-demo"), "c1", False)),
        ((SpaceId("alice", "demo"), "c1", False), (SpaceId("alice", "demo"), "c2", False)),
        ((SpaceId("alice", "demo"), "c1", False), (SpaceId("alice", "demo"), "c1", True)),
    ],
)
def test_job_id_distinguishes_space_commit_and_factory(
    left: tuple[SpaceId, str, bool], right: tuple[SpaceId, str, bool]
) -> None:
    assert build_job_id(*left) != build_job_id(*right)


def test_process_id_knows_a_live_and_a_dead_local_process() -> None:
    me = ProcessId.current()
    assert me.is_local() and not me.is_dead()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    gone = ProcessId(me.host, me.pid_ns, child.pid, ProcessId.current().started)
    assert gone.is_dead()


def test_process_id_on_another_host_is_never_judged_dead() -> None:
    me = ProcessId.current()
    remote = ProcessId(me.host + "-elsewhere", me.pid_ns, 999_999, "1")
    assert not remote.is_dead()
    assert ProcessId.loads(me.dumps()) == me
    assert ProcessId.loads("not json") is None


def test_log_event_parses_stream_entries_and_maps_to_spaces_sse_shape() -> None:
    line = LogEvent.from_entry(
        b"1-0", {b"phase": b"dependencies", b"data": b"Collecting x", b"timestamp": b"T"}
    )
    assert not line.is_terminal
    assert json.loads(_sse_from_event(line)["data"]) == {
        "data": "Collecting x", "timestamp": "T", "phase": "dependencies",
    }
    done = LogEvent.from_entry("2-0", {"event": "failed", "status": "FAILED", "reason": "r"})
    assert done.is_terminal and not done.is_ready
    sse = _sse_from_event(done)
    assert sse["event"] == "failed"
    assert json.loads(sse["data"]) == {"status": "FAILED", "reason": "r"}
    ready = LogEvent.from_entry("3-0", {"event": "ready", "status": "SUCCEEDED"})
    assert ready.is_terminal and ready.is_ready
    assert _sse_from_event(ready)["event"] == "ready"


def test_settings_round_trip_through_the_worker_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    original = Settings(
        data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0", max_concurrent_builds=3,
        ca_bundle=tmp_path / "ca.pem", push_handler="x.y:z",
    )
    for key, value in original.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings() == original

