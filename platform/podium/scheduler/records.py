"""What the scheduler remembers per Space, in Redis: the last deployed RunSpec (without
secrets), the container serving it and the state the Space should be in. This is what lets a
restarted controller wake, restart or reconcile a Space it did not deploy itself."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import redis
from redis.lock import Lock

from podium.keys import SchedulerKeys
from podium.scheduler.spec import RunSpec


class Desired(StrEnum):
    RUNNING = "running"
    SLEEPING = "sleeping"
    PAUSED = "paused"
    FAILED = "failed"


@dataclass(slots=True)
class SpaceRecord:
    spec: RunSpec
    desired: Desired
    container: str | None = None
    started_at: float = 0.0
    slept_at: float = 0.0


class SpaceRecords:
    def __init__(self, conn: redis.Redis, prefix: str = "podium") -> None:
        self.redis = conn
        self.names = SchedulerKeys(prefix)

    def get(self, space_key: str) -> SpaceRecord | None:
        raw = self.redis.hgetall(self.names.record(space_key))
        if not raw or b"spec" not in raw:
            return None
        container = raw.get(b"container", b"").decode() or None
        return SpaceRecord(
            spec=RunSpec.from_json(raw[b"spec"]),
            desired=Desired(raw.get(b"desired", b"running").decode()),
            container=container,
            started_at=float(raw.get(b"started_at", b"0")),
            slept_at=float(raw.get(b"slept_at", b"0")),
        )

    def save(self, record: SpaceRecord) -> None:
        with self.redis.pipeline() as pipe:
            pipe.hset(
                self.names.record(record.spec.key),
                mapping={
                    "spec": record.spec.to_json(),
                    "desired": record.desired.value,
                    "container": record.container or "",
                    "started_at": repr(record.started_at),
                    "slept_at": repr(record.slept_at),
                },
            )
            pipe.sadd(self.names.spaces, record.spec.key)
            pipe.execute()

    def set_desired(
        self, space_key: str, desired: Desired, container: str | None = None,
        *, at: float | None = None,
    ) -> None:
        fields = {"desired": desired.value}
        if desired is Desired.SLEEPING:
            fields["slept_at"] = repr(time.time() if at is None else at)
        if container is not None:
            fields["container"] = container
        if self.redis.exists(self.names.record(space_key)):
            self.redis.hset(self.names.record(space_key), mapping=fields)

    def delete(self, space_key: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self.names.record(space_key))
            pipe.srem(self.names.spaces, space_key)
            pipe.execute()

    # -- warm standby (scheduler/warm.py) -------------------------------------------------

    def set_standby(self, space_key: str, container: str, ttl: float) -> None:
        self.redis.set(self.names.standby(space_key), container, ex=max(1, int(ttl)))

    def standby(self, space_key: str) -> str | None:
        raw = self.redis.get(self.names.standby(space_key))
        return raw.decode() if raw else None

    def take_standby(self, space_key: str) -> str | None:
        """The waiting standby's id, no longer waiting (a deploy uses or drops it)."""
        raw = self.redis.getdel(self.names.standby(space_key))
        return raw.decode() if raw else None

    # -- pending starts: what lets delete, pause or a new push give one up at once --------

    def begin_start(self, space_key: str, ttl: float) -> float:
        """Note that a start of the Space begins now (under its lock); returns its token:
        the time on Redis's clock, which every process shares. The note outlives a dead
        starter by at most ``ttl`` (and reconciliation clears it sooner)."""
        since = self._now()
        with self.redis.pipeline() as pipe:
            pipe.hset(self.names.starting(space_key),
                      mapping={"since": repr(since), "container": ""})
            pipe.expire(self.names.starting(space_key), int(ttl) + 60)
            pipe.execute()
        return since

    def start_pending(self, space_key: str) -> bool:
        return bool(self.redis.exists(self.names.starting(space_key)))

    def forget_start(self, space_key: str) -> None:
        """Under the Space's lock no start runs: a note left is a dead starter's."""
        self.redis.delete(self.names.starting(space_key))

    def started(self, space_key: str, container: str) -> None:
        self.redis.hset(self.names.starting(space_key), "container", container)

    def end_start(self, space_key: str, since: float) -> None:
        raw = self.redis.hget(self.names.starting(space_key), "since")
        if raw is not None and float(raw) == since:
            self.redis.delete(self.names.starting(space_key))

    def cancel_start(self, space_key: str, show: str, ttl: float) -> str | None:
        """Cancel every start of the Space begun before now. Returns the pending start's
        container id ("" when it has none yet), or None when no start is pending. ``show``
        is the stage the route shows when no older version serves."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.names.cancel(space_key),
                      mapping={"at": repr(self._now()), "show": show})
            pipe.expire(self.names.cancel(space_key), int(ttl) + 60)
            pipe.hget(self.names.starting(space_key), "container")
            container = pipe.execute()[-1]
        return None if container is None else container.decode()

    def cancelled(self, space_key: str, since: float) -> str | None:
        """The stage to show, when the start begun at ``since`` was cancelled; else None."""
        raw = self.redis.hgetall(self.names.cancel(space_key))
        if not raw or float(raw.get(b"at", b"0")) < since:
            return None
        return raw.get(b"show", b"").decode() or None

    def _now(self) -> float:
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6

    def keys(self) -> list[str]:
        return sorted(k.decode() for k in self.redis.smembers(self.names.spaces))

    def lock(self, space_key: str, ttl: float, wait: float | None) -> Lock:
        """One operation per Space at a time, across processes. ``wait=None`` blocks until
        the lock is free; ``wait=0`` tries once."""
        return self.redis.lock(
            self.names.lock(space_key),
            timeout=ttl,
            blocking=wait != 0,
            blocking_timeout=wait if wait else None,
            thread_local=False,
        )
