"""The route table's wake requests on a real Redis: de-duplicated in a burst, and a new
sleep lets the next request wake the Space again at once."""

from __future__ import annotations

import redis

from podium.names import SpaceId
from podium.proxy.testing import ProxyStandIn
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage

SPACE = SpaceId("alice", "sleepy")


def sleeping(table: RouteTable) -> None:
    table.put(Route.for_space(SPACE, upstream=None, sdk=Sdk.GRADIO, stage=Stage.SLEEPING))


def test_a_new_sleep_clears_the_wake_request_dedupe(redis_conn: redis.Redis) -> None:
    table = ProxyStandIn(redis_conn)
    sleeping(table)
    for _ in range(5):  # a burst of requests: one wake request
        table.request_wake(SPACE.key)
    assert table.wait_wake_request(timeout=1) == SPACE.key
    assert table.wait_wake_request(timeout=0.1) is None
    # Woken, then asleep again within the dedupe window: the next request still wakes it.
    table.put(Route.for_space(SPACE, upstream="http://10.0.0.2:7860", sdk=Sdk.GRADIO,
                              stage=Stage.RUNNING))
    table.request_wake(SPACE.key)  # a late request of the burst, while it runs
    assert table.wait_wake_request(timeout=0.1) is None
    sleeping(table)
    table.request_wake(SPACE.key)
    assert table.wait_wake_request(timeout=1) == SPACE.key


def test_route_changes_bump_the_generation(redis_conn: redis.Redis) -> None:
    table = RouteTable(redis_conn)
    before = table.generation()
    sleeping(table)
    table.remove(SPACE.key)
    assert table.generation() == before + 2
    # No data plane registered: nothing to wait for.
    assert table.wait_applied(timeout=0)
    table.mark_applied("plane-a", table.generation() - 1)
    assert not table.wait_applied(timeout=0.2)  # a live plane behind the table
    table.mark_applied("plane-a", table.generation())
    assert table.wait_applied(timeout=0)
