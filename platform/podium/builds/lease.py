"""Leases: how a running build proves it is alive, so a build whose worker died (SIGKILL, OOM,
machine lost) is failed by the reaper instead of showing BUILDING forever.

The job holds ``keys.lease(build_id)`` with a short TTL and renews it from a thread
(podium.locks.kept_alive, the renewer Redis locks use too). The value names the process
(host, pid namespace, pid, start time), so a reaper on the same host knows at once that the
process is gone; elsewhere it waits for the TTL to run out.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from types import TracebackType

import redis

from podium.keys import builds as keys
from podium.locks import kept_alive
from podium.names import SpaceId

# Short: the reaper frees a dead worker's build slot only once its lease is gone (or its
# process is seen gone on this host), and the next build waits that long (issue item 13).
LEASE_SECONDS = 10


@dataclass(frozen=True, slots=True)
class ProcessId:
    host: str
    pid_ns: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> ProcessId:
        pid = os.getpid()
        return cls(socket.gethostname(), _pid_namespace("self"), pid, _start_time(pid))

    def is_local(self) -> bool:
        # Same host name is not enough: containers sharing the host network share its name
        # but not its pids.
        return self.host == socket.gethostname() and self.pid_ns == _pid_namespace("self")

    def is_dead(self) -> bool:
        """True only when this process certainly no longer runs (always False if remote)."""
        if not self.is_local():
            return False
        return _start_time(self.pid) != self.started  # gone, or its pid reused

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes | str) -> ProcessId | None:
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None


def _pid_namespace(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """Process start time in clock ticks since boot ('' when there is no such process)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The command name (field 2) may hold spaces; fields after its ')' are fixed.
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    state = fields[0]
    if state in {"Z", "X"}:  # a zombie has finished its work
        return ""
    return fields[19]


class Lease:
    """Held while a build runs: ``with Lease(conn, space_id, build_id): ...``."""

    def __init__(
        self, conn: redis.Redis, space_id: SpaceId, build_id: str, seconds: int = LEASE_SECONDS
    ) -> None:
        self.conn = conn
        self.space_id = space_id
        self.build_id = build_id
        self.seconds = seconds
        self.owner = ProcessId.current()
        self._renewing = kept_alive(self._put, seconds / 3, f"lease-{build_id}")

    def _put(self) -> None:
        with self.conn.pipeline() as pipe:
            pipe.set(keys.lease(self.build_id), self.owner.dumps(), ex=self.seconds)
            pipe.hset(keys.ACTIVE, self.build_id, str(self.space_id))
            pipe.execute()

    def __enter__(self) -> Lease:
        self._put()
        self._renewing.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._renewing.__exit__(None, None, None)
        release(self.conn, self.build_id)


def release(conn: redis.Redis, build_id: str) -> None:
    with conn.pipeline() as pipe:
        pipe.delete(keys.lease(build_id))
        pipe.hdel(keys.ACTIVE, build_id)
        pipe.execute()


def lease_holder(conn: redis.Redis, build_id: str) -> ProcessId | None:
    """The process holding the build's lease, or None when the lease has run out."""
    raw = conn.get(keys.lease(build_id))
    return ProcessId.loads(raw) if raw is not None else None


def is_alive(conn: redis.Redis, build_id: str) -> bool:
    holder = lease_holder(conn, build_id)
    return holder is not None and not holder.is_dead()
