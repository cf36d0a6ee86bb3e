"""Live build logs: one capped Redis stream per build, written by the job and read by any
number of followers (CLI ``logs -f``, dashboard, API SSE).

Each line is an entry ``{phase, data, timestamp}``; the last entry of a build is the terminal
``{event: "done", status, reason}``. After the build ends the full text is kept in the Build
record and the stream only lives ``STREAM_TTL`` more seconds, so late readers replay the
record instead.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import redis
import redis.asyncio

from podium.config import Settings
from podium.keys import builds as keys
from podium.names import SpaceId
from podium.spaces.stage import BuildPhase, BuildStatus

# Lines kept in a stream (approximate trimming keeps XADD O(1)).
STREAM_MAXLEN = 20_000
# Seconds a finished build's stream stays readable with its phases and timestamps.
STREAM_TTL = 3600
# Characters of log text kept for the Build record: a runaway build cannot bloat the store.
RECORD_MAX_CHARS = 1_000_000
TERMINAL = "done"
# XREAD BLOCK time: below redis-py's default 5 s socket timeout, which would otherwise cut
# a blocking read on a client built with defaults.
BLOCK_MS = 2000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: bytes | str | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One stream entry: a log line, or (``event == "done"``) the end of the build."""

    id: str
    data: str = ""
    phase: str | None = None
    timestamp: str = ""
    event: str | None = None
    status: str | None = None
    reason: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.event == TERMINAL

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: Mapping[Any, Any]) -> LogEvent:
        f = {_text(k): _text(v) for k, v in fields.items()}
        return cls(
            id=_text(entry_id) or "0", data=f.get("data") or "", phase=f.get("phase") or None,
            timestamp=f.get("timestamp") or "", event=f.get("event") or None,
            status=f.get("status") or None, reason=f.get("reason") or None,
        )

    def to_dict(self) -> dict[str, str]:
        if self.is_terminal:
            return {"event": TERMINAL, "status": self.status or "", "reason": self.reason or ""}
        return {"phase": self.phase or "", "data": self.data, "timestamp": self.timestamp}


class BuildLog:
    """The writer side, owned by the build job. Also keeps the text for the Build record:
    its end, where the error is, when a runaway build prints too much."""

    def __init__(self, conn: redis.Redis, build_id: str) -> None:
        self.conn = conn
        self.build_id = build_id
        self.key = keys.log_stream(build_id)
        self._lines: deque[str] = deque()
        self._chars = 0
        self._dropped = 0

    def write(self, phase: BuildPhase | str, text: str) -> None:
        for line in text.splitlines() or [""]:
            line = line.rstrip("\r")
            self.conn.xadd(
                self.key, {"phase": str(phase), "data": line, "timestamp": now_iso()},
                maxlen=STREAM_MAXLEN, approximate=True,
            )
            self._keep(line)

    def _keep(self, line: str) -> None:
        self._lines.append(line)
        self._chars += len(line) + 1
        while self._chars > RECORD_MAX_CHARS and len(self._lines) > 1:
            self._chars -= len(self._lines.popleft()) + 1
            self._dropped += 1

    @property
    def text(self) -> str:
        head = [f"[{self._dropped} earlier lines dropped]"] if self._dropped else []
        return "\n".join([*head, *self._lines])

    def finish(self, status: BuildStatus, reason: str | None = None) -> None:
        write_terminal(self.conn, self.build_id, status, reason)


def write_terminal(
    conn: redis.Redis, build_id: str, status: BuildStatus, reason: str | None = None
) -> None:
    """End a build's stream (followers stop) and let it expire."""
    key = keys.log_stream(build_id)
    with conn.pipeline() as pipe:
        pipe.xadd(
            key,
            {"event": TERMINAL, "status": str(status), "reason": reason or "",
             "timestamp": now_iso()},
            maxlen=STREAM_MAXLEN, approximate=True,
        )
        pipe.expire(key, STREAM_TTL)
        pipe.execute()


def read_build_log(conn: redis.Redis, build_id: str) -> list[LogEvent]:
    """Everything in the stream now, without blocking (empty when it expired or never was)."""
    return [LogEvent.from_entry(i, f) for i, f in conn.xrange(keys.log_stream(build_id))]


def follow_build_log(
    conn: redis.Redis, build_id: str, last_id: str = "0", *, block_ms: int = BLOCK_MS,
    idle_timeout: float | None = None,
) -> Iterator[LogEvent]:
    """Yield the build's log events from after ``last_id``, blocking for new ones, until the
    terminal event (included). ``idle_timeout`` seconds without any entry ends it early."""
    key = keys.log_stream(build_id)
    idle = 0.0
    while True:
        try:
            reply = conn.xread({key: last_id}, block=block_ms, count=500)
        except redis.TimeoutError:  # a client with a socket timeout below block_ms
            reply = []
        if not reply:
            idle += block_ms / 1000
            if idle_timeout is not None and idle >= idle_timeout:
                return
            continue
        idle = 0.0
        for entry_id, fields in reply[0][1]:
            event = LogEvent.from_entry(entry_id, fields)
            last_id = event.id
            yield event
            if event.is_terminal:
                return


# --- Server-Sent Events, in the shape Hugging Face Spaces uses ---------------------------


def _sse_line(data: str, timestamp: str, phase: str | None) -> dict[str, str]:
    payload = {"data": data, "timestamp": timestamp}
    if phase:
        payload["phase"] = phase
    return {"data": json.dumps(payload)}


def _sse_terminal(status: str, reason: str | None) -> dict[str, str]:
    # "done" only for a build that produced an image: clients can stop on either name.
    name = "done" if status == BuildStatus.SUCCEEDED else "failed"
    return {"event": name, "data": json.dumps({"status": status, "reason": reason or ""})}


def _sse_from_event(event: LogEvent) -> dict[str, str]:
    if event.is_terminal:
        return _sse_terminal(event.status or "", event.reason)
    return _sse_line(event.data, event.timestamp, event.phase)


async def sse_build_events(
    settings: Settings, redis_conn: redis.asyncio.Redis, db: Any, space_id: SpaceId,
    build_id: str | None = None, *, block_ms: int = BLOCK_MS,
) -> AsyncIterator[dict[str, str]]:
    """Dicts for sse-starlette's ``EventSourceResponse``: every log line as
    ``data: {"data": ..., "timestamp": ..., "phase": ...}``, then ``event: done`` (SUCCEEDED)
    or ``event: failed`` (anything else) with ``{"status", "reason"}``.

    ``build_id`` None means the Space's latest build. A build that already ended is replayed
    from its stream while that lives, else from the text kept in its record."""
    from podium.errors import NotFound

    build = await anyio.to_thread.run_sync(_find_build, db, space_id, build_id)
    if build is None:
        raise NotFound(f"Space {space_id} has no build" + (f" {build_id}" if build_id else ""))
    build_id = str(build.id)
    key = keys.log_stream(build_id)
    if BuildStatus(build.status).is_final and not await redis_conn.exists(key):
        for item in _replay_record(build):
            yield item
        return
    last_id = "0"
    while True:
        try:
            reply = await redis_conn.xread({key: last_id}, block=block_ms, count=500)
        except redis.TimeoutError:
            reply = []
        if not reply:
            # Nothing new: the build may have ended without a terminal entry (the worker died
            # before the reaper wrote one). The record is then the truth.
            build = await anyio.to_thread.run_sync(_find_build, db, space_id, build_id)
            if build is not None and BuildStatus(build.status).is_final:
                items = _replay_record(build)
                for item in items if last_id == "0" else items[-1:]:
                    yield item
                return
            continue
        for entry_id, fields in reply[0][1]:
            event = LogEvent.from_entry(entry_id, fields)
            last_id = event.id
            yield _sse_from_event(event)
            if event.is_terminal:
                return


def _replay_record(build: Any) -> list[dict[str, str]]:
    stamp = _iso(build.finished_at)
    lines = [_sse_line(line, stamp, None) for line in (build.log or "").splitlines()]
    return [*lines, _sse_terminal(str(build.status), build.failure_reason)]


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return now_iso()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _find_build(db: Any, space_id: SpaceId, build_id: str | None) -> Any:
    """The Build record (detached, attributes loaded) or None."""
    from podium.store import builds as store_builds
    from podium.store import spaces as store_spaces

    with db.session() as session:
        space = store_spaces.find_space(session, space_id)
        if space is None:
            return None
        if build_id is not None:
            build = store_builds.find_build(session, build_id)
            if build is not None and build.space_id != space.id:
                build = None  # another Space's build: never show it through this one
        else:
            build = store_builds.latest_build(session, space)
        if build is not None:
            session.expunge(build)
        return build
