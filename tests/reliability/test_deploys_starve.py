"""Item 5: Spaces that never listen must not starve other deploys. Waiting for an app holds
no shared slot; delete, pause and a new push give up a pending start and remove its
container within seconds; ``max_startup_timeout`` caps ``startup_duration_timeout``.
Real builds (rq worker process), the scheduler loop with the controller's deployer, the
real Docker engine and Redis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from podium.builds.logs import read_build_log
from podium.config import Settings
from podium.controller.lifecycle import delete
from podium.controller.push import on_push
from podium.controller.runtime import pause
from podium.names import SpaceId
from podium.spaces.stage import Stage
from podium.store.db import Database
from tests.integration import test_deploys as deploys
from tests.reliability.live import Live, in_thread, live_platform, wait_until

build_settings = deploys.build_settings
db = deploys.db
own_base = deploys.own_base
docker_settings = deploys.docker_settings
deploy_settings = deploys.deploy_settings
made_spaces = deploys.made_spaces

pytestmark = pytest.mark.docker

# Seconds the fourth Space may take from its build's end to RUNNING (a tiny app answers in
# about one; unfixed, it waits for a silent Space's startup timeout).
FOURTH_WITHIN_S = 10.0
# Seconds for delete / pause / push to return and the pending container to be gone.
CANCEL_WITHIN_S = 8.0


@pytest.fixture
def live(
    deploy_settings: Settings, redis_conn: redis.Redis, db: Database, own_base: str,
    made_spaces: list[SpaceId],
) -> Iterator[Live]:
    for running in live_platform(deploy_settings, redis_conn, db, own_base):
        yield running
        made_spaces.extend(running.spaces)


def _starting(live: Live, space_id: SpaceId) -> bool:
    return any(i.running for i in live.containers(space_id))


def test_item5_silent_spaces_do_not_delay_a_deploy_and_cancel_at_once(live: Live) -> None:
    silent = [live.space(None, timeout="6h") for _ in range(3)]
    live.build(*silent)
    # Two starting fill the unfixed scheduler's two deploy workers; the fix starts all three.
    wait_until(lambda: sum(_starting(live, s) for s, _ in silent) >= 2, 60,
               "two silent Spaces' containers")

    fourth, commit = live.space(deploys.APP)
    live.build((fourth, commit))
    took = wait_until(lambda: live.stage(fourth)[0] == Stage.RUNNING, 45,
                      "the fourth Space to run")
    print(f"fourth Space RUNNING {took:.2f}s after its build ended (three silent Spaces "
          "starting)")
    assert took < FOURTH_WITHIN_S
    assert httpx.get(live.upstream(fourth), timeout=5, trust_env=False).text == "MARKER"
    assert all(_starting(live, s) for s, _ in silent)  # all three still wait for their apps


def _pending(live: Live) -> SpaceId:
    """A silent Space built and started by the scheduler loop, waiting for its app."""
    space_id, commit = live.space(None, timeout="6h")
    live.build((space_id, commit))
    wait_until(lambda: _starting(live, space_id), 60, "the silent Space's container")
    return space_id


def test_item5_delete_removes_a_pending_start_at_once(live: Live) -> None:
    gone = _pending(live)
    took = in_thread(lambda: delete(live.platform, gone), CANCEL_WITHIN_S, "delete")
    assert live.containers(gone) == []
    print(f"delete of a silent Space returned with its container gone in {took:.2f}s")


def test_item5_pause_cancels_a_pending_start(live: Live) -> None:
    paused = _pending(live)
    took = in_thread(lambda: pause(live.platform, paused), CANCEL_WITHIN_S, "pause")
    took += wait_until(lambda: live.containers(paused) == [], CANCEL_WITHIN_S,
                       "the paused Space's container to go")
    assert live.stage(paused)[0] == Stage.PAUSED
    print(f"pause of a silent Space: container gone in {took:.2f}s")


def test_item5_a_new_push_cancels_a_pending_start(live: Live) -> None:
    pushed = _pending(live)
    old = {i.id for i in live.containers(pushed)}
    new = deploys.commit_files(live.settings, pushed, {"note.txt": "again"})
    took = in_thread(lambda: on_push(live.settings, pushed, "refs/heads/main", "0" * 40,
                                     new, "tester"), CANCEL_WITHIN_S, "the push hook")
    took += wait_until(lambda: not {i.id for i in live.containers(pushed)} & old,
                       CANCEL_WITHIN_S, "the pending start's container to go")
    print(f"a new push removed the pending start's container in {took:.2f}s")
    assert live.stage(pushed)[0] != Stage.RUNTIME_ERROR


@pytest.fixture
def capped(
    deploy_settings: Settings, redis_conn: redis.Redis, db: Database, own_base: str,
    made_spaces: list[SpaceId],
) -> Iterator[Live]:
    settings = deploy_settings.model_copy(update={"max_startup_timeout": 4})
    for running in live_platform(settings, redis_conn, db, own_base):
        yield running
        made_spaces.extend(running.spaces)


def test_item5_startup_duration_timeout_is_capped(capped: Live) -> None:
    space_id, commit = capped.space(None, timeout="2h")
    (build_id,) = capped.build((space_id, commit))
    log = "\n".join(event.data for event in read_build_log(capped.redis, build_id))
    assert "startup_duration_timeout is 7200s but this platform allows at most 4s" in log
    wait_until(lambda: capped.stage(space_id)[0] == Stage.RUNTIME_ERROR, 40,
               "the silent Space to fail at the cap, not after 2h")
    _, message, detail = capped.stage(space_id)
    assert "within 4s" in message, (message, detail)
    assert capped.containers(space_id) == []
