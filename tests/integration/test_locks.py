"""Renewed locks and build leases (podium.locks.kept_alive renews both) on a real Redis: held
while the holder works, however long; freed within one lease when the holder dies holding it."""

from __future__ import annotations

import subprocess
import sys
import time

import redis

from podium import keys
from podium.builds import lease
from podium.builds.lease import Lease
from podium.locks import renewed
from podium.names import SpaceId
from podium.proxy.testing import settles


def test_a_lock_outlives_its_lease_while_held(redis_conn: redis.Redis) -> None:
    lock = redis_conn.lock("t:lock", timeout=1.0, blocking=False, thread_local=False)
    with renewed(lock, lease=1.0) as got:
        assert got
        time.sleep(2.5)  # past two leases
        assert lock.owned()
        other = redis_conn.lock("t:lock", timeout=1.0, blocking=False, thread_local=False)
        assert not other.acquire()
    assert redis_conn.get("t:lock") is None  # released on exit


def test_a_dead_holder_frees_the_lock_within_a_lease(redis_url: str,
                                                     redis_conn: redis.Redis) -> None:
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time, redis
from podium.locks import renewed
conn = redis.Redis.from_url({redis_url!r})
lock = conn.lock("t:dead", timeout=1.0, blocking=False, thread_local=False)
with renewed(lock, lease=1.0) as got:
    print("held" if got else "busy", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        time.sleep(1.5)
        assert redis_conn.get("t:dead") is not None  # renewed past its first lease
    finally:
        holder.kill()
        holder.wait()
    lock = redis_conn.lock("t:dead", timeout=1.0, blocking=False, thread_local=False)
    assert settles(lock.acquire, 3.0)


def test_a_build_lease_is_renewed_by_the_same_mechanism(redis_conn: redis.Redis) -> None:
    space, build_id = SpaceId("alice", "demo"), "b-lease"
    with Lease(redis_conn, space, build_id, seconds=1):
        time.sleep(2.5)  # past two TTLs: only renewal keeps it
        assert lease.is_alive(redis_conn, build_id)
        assert redis_conn.hget(keys.builds.ACTIVE, build_id) == str(space).encode()
    assert redis_conn.get(keys.builds.lease(build_id)) is None  # released on exit
    assert not lease.is_alive(redis_conn, build_id)


def test_a_lock_not_got_yields_false_and_leaves_the_holder_alone(
        redis_conn: redis.Redis) -> None:
    first = redis_conn.lock("t:busy", timeout=1.0, blocking=False, thread_local=False)
    second = redis_conn.lock("t:busy", timeout=1.0, blocking=False, thread_local=False)
    with renewed(first, lease=1.0) as got_first, renewed(second, lease=1.0) as got_second:
        assert (got_first, got_second) == (True, False)
        time.sleep(1.5)
        assert first.owned()
    assert redis_conn.get("t:busy") is None
