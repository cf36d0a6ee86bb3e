"""Item 12: a Space that crashes or is OOM-killed after it started shows RUNTIME_ERROR with
the reason within seconds (the scheduler follows the engine's events), not at the next
reconcile; the platform's own stops (swap, sleep, pause) are never reported as crashes.
Real builds (rq worker process), the scheduler loop with the controller's deployer, the
real Docker engine and Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import docker
import httpx
import pytest
import redis

from podium.config import Settings
from podium.controller.runtime import pause
from podium.names import SpaceId
from podium.spaces.stage import Stage
from podium.store.db import Database
from tests.integration import test_deploys as deploys
from tests.reliability.live import Live, live_platform, wait_until

build_settings = deploys.build_settings
db = deploys.db
own_base = deploys.own_base
docker_settings = deploys.docker_settings
deploy_settings = deploys.deploy_settings
made_spaces = deploys.made_spaces

pytestmark = pytest.mark.docker

# GET / answers; GET /oom allocates until the kernel kills it; GET /exit prints two lines
# and exits with code 3. Both after answering, so the Space was RUNNING first.
APP = """
import http.server, os, threading, time

def eat():
    hog = []
    while True:
        hog.append(b"x" * (8 << 20))

def leave():
    time.sleep(0.2)
    print("last words: the disk is on fire", flush=True)
    print("goodbye from the app", flush=True)
    os._exit(3)

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"MARKER"
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
        if self.path == "/oom":
            threading.Thread(target=eat).start()
        if self.path == "/exit":
            threading.Thread(target=leave).start()
    def log_message(self, *a): pass

print("app listening", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""
MEMORY = "96m"
# Seconds from the engine's event to RUNTIME_ERROR in the store (unfixed: the next
# reconcile, 5 minutes).
WITHIN_S = 5.0


@pytest.fixture
def live(
    deploy_settings: Settings, redis_conn: redis.Redis, db: Database, own_base: str,
    made_spaces: list[SpaceId],
) -> Iterator[Live]:
    settings = deploy_settings.model_copy(update={"space_memory": MEMORY})
    for running in live_platform(settings, redis_conn, db, own_base):
        yield running
        made_spaces.extend(running.spaces)


def _running(live: Live) -> SpaceId:
    space_id, commit = live.space(APP)
    live.build((space_id, commit))
    wait_until(lambda: live.stage(space_id)[0] == Stage.RUNNING, 60, "the Space to run")
    return space_id


def _first_event(client: docker.DockerClient, container: str, action: str) -> list[float]:
    """Start following the engine's ``action`` events of ``container``; the list gets the
    time of the first one."""
    seen: list[float] = []
    stream = client.events(decode=True, filters={"container": container, "event": action})

    def follow() -> None:
        for _event in stream:
            seen.append(time.time())
            stream.close()
            return

    threading.Thread(target=follow, daemon=True).start()
    return seen


def _crash(live: Live, docker_client: docker.DockerClient, path: str, action: str) -> float:
    """Make the running Space's app die by ``path``; returns the seconds from the engine's
    ``action`` event to RUNTIME_ERROR in the store."""
    space_id = _running(live)
    (instance,) = live.containers(space_id)
    seen = _first_event(docker_client, instance.id, action)
    time.sleep(0.3)  # the event stream is open before the app dies
    assert httpx.get(live.upstream(space_id) + path, timeout=5, trust_env=False).text == \
        "MARKER"
    wait_until(lambda: bool(seen), 30, f"the engine's {action} event")
    wait_until(lambda: live.stage(space_id)[0] == Stage.RUNTIME_ERROR, 30,
               "RUNTIME_ERROR in the store", step=0.02)
    took = time.time() - seen[0]
    assert live.containers(space_id) == []  # nothing left for the route to send to
    route = live.platform.routes.get(space_id.key)
    assert route is not None and route.stage == Stage.RUNTIME_ERROR and not route.upstream
    return took


def test_item12_an_oom_kill_is_runtime_error_within_seconds(
    live: Live, docker_client: docker.DockerClient,
) -> None:
    took = _crash(live, docker_client, "/oom", "oom")
    space_id = live.spaces[-1]
    stage, message, detail = live.stage(space_id)
    print(f"OOM kill -> RUNTIME_ERROR in {took:.2f}s: {message}")
    assert "ran out of memory" in message, (message, detail)
    assert MEMORY in message
    assert took < WITHIN_S


def test_item12_an_exit_after_start_is_runtime_error_with_code_and_last_lines(
    live: Live, docker_client: docker.DockerClient,
) -> None:
    took = _crash(live, docker_client, "/exit", "die")
    space_id = live.spaces[-1]
    stage, message, detail = live.stage(space_id)
    print(f"exit 3 -> RUNTIME_ERROR in {took:.2f}s: {message}")
    assert "exited with code 3" in message, (message, detail)
    assert "last words: the disk is on fire" in detail
    assert "goodbye from the app" in detail
    assert took < WITHIN_S


def test_item12_swap_sleep_and_pause_are_not_crashes(live: Live) -> None:
    sched = live.platform.scheduler
    reported: list[tuple[str, object]] = []
    record_stage = sched.on_change

    def recording(space_key: str, stage: object, detail: str | None) -> None:
        reported.append((space_key, stage))
        assert record_stage is not None
        record_stage(space_key, stage, detail)

    sched.on_change = recording
    space_id = _running(live)
    # Swap: a new version replaces the running one (the old container dies).
    live.build((space_id, deploys.commit_files(live.settings, space_id,
                                               {"app.py": APP + "\n# v2\n"})))
    wait_until(lambda: len(live.containers(space_id)) == 1
               and live.stage(space_id)[0] == Stage.RUNNING, 60, "the swap")
    # Sleep without freezing: the container is stopped and removed.
    sched.freeze_s = 0
    # The deploy that swapped may still hold the Space's lock (draining the old version);
    # sleep never waits for it, so ask until it is free.
    wait_until(lambda: sched.sleep(space_id.key), 60, "the Space to sleep")
    assert sched.wake(space_id.key) is not None
    pause(live.platform, space_id)
    time.sleep(3)  # events of these stops are judged meanwhile
    assert Stage.RUNTIME_ERROR not in [stage for key, stage in reported if key == space_id.key]
    assert live.stage(space_id)[0] == Stage.PAUSED
