"""Live build logs: one capped Redis stream per push, written by the build job and then by
the scheduler process's deploy, read by any number of followers (CLI ``logs -f``,
dashboard, API SSE), as binderhub's one progress stream: a reader follows a push from the
clone until its app answers.

Each line is an entry ``{phase, data, timestamp}``: the build's phases, then ``launching``
(the deploy). The last entry is the one terminal event ``{event, status, reason}``:
``ready`` (the new version answers through the proxy) or ``failed`` (the build failed or
was superseded, or the app did not start: ``status`` is the Build record's, so SUCCEEDED
with ``failed`` means built but not started). Whoever ends the stream first wins (the job,
the reaper, a newer push, the deployer): a later end is dropped. After the end the stream
lives ``STREAM_TTL`` more seconds; late readers replay the Build record instead.
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
READY = "ready"
FAILED = "failed"
TERMINALS = frozenset({READY, FAILED})
# XREAD BLOCK time: below redis-py's default 5 s socket timeout, which would otherwise cut
# a blocking read on a client built with defaults.
BLOCK_MS = 2000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: bytes | str | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One stream entry: a log line, or (``event`` ready or failed) the end of the stream."""

    id: str
    data: str = ""
    phase: str | None = None
    timestamp: str = ""
    event: str | None = None
    status: str | None = None
    reason: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.event in TERMINALS

    @property
    def is_ready(self) -> bool:
        return self.event == READY

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
            return {"event": self.event or "", "status": self.status or "",
                    "reason": self.reason or ""}
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

    def failed(self, status: BuildStatus, reason: str | None = None) -> bool:
        return write_terminal(self.conn, self.build_id, status, reason)

    def ready(self) -> bool:
        return end_stream(self.conn, self.build_id, READY, BuildStatus.SUCCEEDED)


# Add the terminal entry only if no writer ended the stream before: the end marker and the
# entry in one step, so two writers racing (a newer push and the deployer) add one entry.
_END = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[3], 'status', ARGV[4],
           'reason', ARGV[5], 'timestamp', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def end_stream(
    conn: redis.Redis, build_id: str, event: str, status: BuildStatus, reason: str | None = None,
) -> bool:
    """End a build's stream (followers stop) and let it expire; False when it had ended."""
    ended = conn.eval(  # type: ignore[no-untyped-call]
        _END, 2, keys.log_stream(build_id), keys.log_end(build_id), STREAM_TTL,
        STREAM_MAXLEN, event, str(status), reason or "", now_iso(),
    )
    return bool(ended)


def write_terminal(
    conn: redis.Redis, build_id: str, status: BuildStatus, reason: str | None = None
) -> bool:
    """End the stream with ``failed``: the build failed, was superseded, or its app did not
    start (``status`` SUCCEEDED)."""
    return end_stream(conn, build_id, FAILED, status, reason)


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


def _sse_terminal(event: str, status: str, reason: str | None) -> dict[str, str]:
    # "ready" only once the app answers: clients stop on either name.
    return {"event": event, "data": json.dumps({"status": status, "reason": reason or ""})}


def _sse_from_event(event: LogEvent) -> dict[str, str]:
    if event.is_terminal:
        return _sse_terminal(event.event or FAILED, event.status or "", event.reason)
    return _sse_line(event.data, event.timestamp, event.phase)


async def sse_build_events(
    settings: Settings, redis_conn: redis.asyncio.Redis, db: Any, space_id: SpaceId,
    build_id: str | None = None, *, block_ms: int = BLOCK_MS,
) -> AsyncIterator[dict[str, str]]:
    """Dicts for sse-starlette's ``EventSourceResponse``: every log line as
    ``data: {"data": ..., "timestamp": ..., "phase": ...}`` (the build's phases, then
    ``launching``), then ``event: ready`` (the app answers) or ``event: failed`` (anything
    else), with ``{"status", "reason"}``.

    ``build_id`` None means the Space's latest build. A build that already ended is replayed
    from its stream while that lives, else from the text kept in its record."""
    from podium.errors import NotFound

    build = await anyio.to_thread.run_sync(_find_build, db, space_id, build_id)
    if build is None:
        raise NotFound(f"Space {space_id} has no build" + (f" {build_id}" if build_id else ""))
    build_id = str(build.id)
    key = keys.log_stream(build_id)
    if BuildStatus(build.status).is_final and not await redis_conn.exists(key):
        # The stream expired: no launching lines left; whether the version is the one
        # deployed tells ready from not.
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
            # Nothing new: the build may have failed without a terminal entry (the worker
            # died before the reaper wrote one). The record is then the truth. A succeeded
            # one goes on: the deploy ends its stream.
            build = await anyio.to_thread.run_sync(_find_build, db, space_id, build_id)
            if build is not None and _failed(build):
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


def _failed(build: Any) -> bool:
    status = BuildStatus(build.status)
    return status.is_final and status is not BuildStatus.SUCCEEDED


def _replay_record(build: Any) -> list[dict[str, str]]:
    stamp = _iso(build.finished_at)
    lines = [_sse_line(line, stamp, None) for line in (build.log or "").splitlines()]
    if _failed(build):
        end = _sse_terminal(FAILED, str(build.status), build.failure_reason)
    elif getattr(build, "deployed", False):
        end = _sse_terminal(READY, str(build.status), None)
    else:
        end = _sse_terminal(FAILED, str(build.status), "built; not the version deployed")
    return [*lines, end]


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
            deployed = bool(build.image) and build.image == space.deployed_image
            session.expunge(build)
            # Read by a replay whose stream expired: ready only for the version deployed.
            build.deployed = deployed
        return build
