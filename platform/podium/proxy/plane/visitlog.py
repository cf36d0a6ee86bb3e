"""nginx's visit log (space key, client address, user agent per page visit it served, the
``$podium_visit`` rule) -> the visit counters (podium.analytics.visits), every second.

The same buffered-file reader as the activity log (podium.proxy.plane.nginx.ActivityLog:
one write per batch for nginx, one read a second here, rotated past a size); only what a
batch becomes differs. Lines live in the file for about a second: the reader hashes the
address, and empties the file after each read (``ActivityLog(truncate=True)``)."""

from __future__ import annotations

import logging

import redis

from podium.analytics.visits import Visit, VisitRecorder

log = logging.getLogger("podium.proxy")


def parse(line: bytes) -> Visit | None:
    fields = line.decode("latin-1").split("\t")
    if len(fields) != 3 or not fields[0]:
        return None
    space_key, address, agent = fields
    return Visit(space_key, address, "" if agent == "-" else agent)


class VisitSink:
    """What a batch of the visit log becomes: ActivityLog(..., record=VisitSink(redis))."""

    def __init__(self, conn: redis.Redis) -> None:
        self.recorder = VisitRecorder(conn)

    def __call__(self, lines: list[bytes]) -> None:
        visits = [v for v in map(parse, lines) if v is not None]
        if not visits:
            return
        try:
            self.recorder.record(visits)
        except redis.RedisError as exc:
            log.warning("recording visits failed: %s", exc)
