"""What the scheduler remembers per Space, in Redis: the last deployed RunSpec (without
secrets), the container serving it and the state the Space should be in. This is what lets a
restarted controller wake, restart or reconcile a Space it did not deploy itself."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import redis
from redis.lock import Lock

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
        self.prefix = f"{prefix}:sched"

    def _key(self, space_key: str) -> str:
        return f"{self.prefix}:space:{space_key}"

    def get(self, space_key: str) -> SpaceRecord | None:
        raw = self.redis.hgetall(self._key(space_key))
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
                self._key(record.spec.key),
                mapping={
                    "spec": record.spec.to_json(),
                    "desired": record.desired.value,
                    "container": record.container or "",
                    "started_at": repr(record.started_at),
                    "slept_at": repr(record.slept_at),
                },
            )
            pipe.sadd(f"{self.prefix}:spaces", record.spec.key)
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
        if self.redis.exists(self._key(space_key)):
            self.redis.hset(self._key(space_key), mapping=fields)

    def delete(self, space_key: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self._key(space_key))
            pipe.srem(f"{self.prefix}:spaces", space_key)
            pipe.execute()

    def keys(self) -> list[str]:
        return sorted(k.decode() for k in self.redis.smembers(f"{self.prefix}:spaces"))

    def lock(self, space_key: str, ttl: float, wait: float | None) -> Lock:
        """One operation per Space at a time, across processes. ``wait=None`` blocks until
        the lock is free; ``wait=0`` tries once."""
        return self.redis.lock(
            f"{self.prefix}:lock:{space_key}",
            timeout=ttl,
            blocking=wait != 0,
            blocking_timeout=wait if wait else None,
            thread_local=False,
        )
