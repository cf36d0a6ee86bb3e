"""Visits per Space per UTC day, written by both data planes and read by the dashboard.

What counts as a visit (one rule, mirrored by the nginx plane's ``$podium_visit`` map and
tested on both planes): a GET the Space answered with 2xx that is a page navigation --
``Sec-Fetch-Mode: navigate`` when the client sends Fetch Metadata (every current browser:
a top-level page or the dashboard's frame), otherwise an ``Accept`` naming ``text/html``
(curl -H, old browsers). Assets, API calls, event streams and websockets are not visits.

Unique visitors are a HyperLogLog per Space and day fed with HMAC-SHA256(day salt, address
+ user agent), truncated to 16 bytes. The salt is random, shared by the planes through Redis,
and expires when its day ends: addresses are never written, and once the salt is gone no
one can test an address against the day's registers. Every key expires after 31 days.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import redis
import redis.asyncio as aioredis

from podium.keys import PREFIX, VISITS_TTL_SECONDS, VisitKeys

DAY_SECONDS = 24 * 3600
SERIES_DAYS = 30
# A salt outlives its day by this much, for requests logged just before midnight and
# read by the nginx plane's reader a second later.
_SALT_GRACE_SECONDS = 300


def is_page_visit(method: str, status: int, fetch_mode: str | None, accept: str | None) -> bool:
    """The visit rule (module docstring)."""
    if method != "GET" or not 200 <= status < 300:
        return False
    if fetch_mode:
        return fetch_mode == "navigate"
    return "text/html" in (accept or "")


def day_of(now: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(now))


def _salt_ttl(now: float) -> int:
    return int(DAY_SECONDS - now % DAY_SECONDS) + _SALT_GRACE_SECONDS


def visitor_hash(salt: bytes, address: str, user_agent: str) -> bytes:
    message = f"{address}\n{user_agent}".encode("utf-8", "replace")
    return hmac.new(salt, message, hashlib.sha256).digest()[:16]


@dataclass(frozen=True, slots=True)
class Visit:
    space_key: str
    address: str
    user_agent: str


class VisitRecorder:
    """Synchronous writer (the nginx plane's log reader): many visits, one pipeline."""

    def __init__(self, conn: redis.Redis, prefix: str = PREFIX) -> None:
        self.redis = conn
        self.keys = VisitKeys(prefix)
        self._salt: tuple[str, bytes] | None = None

    def salt(self, now: float) -> bytes:
        day = day_of(now)
        if self._salt is None or self._salt[0] != day:
            key = self.keys.salt(day)
            self.redis.set(key, secrets.token_bytes(32), nx=True, ex=_salt_ttl(now))
            value = self.redis.get(key)
            assert value is not None  # just set, and it lives past the day
            self._salt = (day, bytes(value))
        return self._salt[1]

    def record(self, visits: Iterable[Visit], now: float | None = None) -> int:
        now = time.time() if now is None else now
        day, salt = day_of(now), self.salt(now)
        pipe = self.redis.pipeline(transaction=False)
        count = 0
        for visit in visits:
            _queue(pipe, self.keys, visit, day, salt)
            count += 1
        if count:
            pipe.execute()
        return count


class AsyncVisitRecorder:
    """The Python proxy's writer: one visit per navigation it forwarded."""

    def __init__(self, conn: aioredis.Redis, prefix: str = PREFIX) -> None:
        self.redis = conn
        self.keys = VisitKeys(prefix)
        self._salt: tuple[str, bytes] | None = None

    async def salt(self, now: float) -> bytes:
        day = day_of(now)
        if self._salt is None or self._salt[0] != day:
            key = self.keys.salt(day)
            await self.redis.set(key, secrets.token_bytes(32), nx=True, ex=_salt_ttl(now))
            value = await self.redis.get(key)
            assert value is not None
            self._salt = (day, bytes(value))
        return self._salt[1]

    async def record(self, visit: Visit, now: float | None = None) -> None:
        now = time.time() if now is None else now
        day, salt = day_of(now), await self.salt(now)
        pipe = self.redis.pipeline(transaction=False)
        _queue(pipe, self.keys, visit, day, salt)
        await pipe.execute()


def _queue(pipe: object, keys: VisitKeys, visit: Visit, day: str, salt: bytes) -> None:
    count, visitors = keys.count(visit.space_key, day), keys.visitors(visit.space_key, day)
    pipe.incr(count)  # type: ignore[attr-defined]
    pipe.expire(count, VISITS_TTL_SECONDS)  # type: ignore[attr-defined]
    pipe.pfadd(visitors, visitor_hash(salt, visit.address, visit.user_agent))  # type: ignore[attr-defined]
    pipe.expire(visitors, VISITS_TTL_SECONDS)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DayVisits:
    day: date
    visits: int
    visitors: int

    def as_json(self) -> dict[str, object]:
        return {"date": self.day.isoformat(), "visits": self.visits, "visitors": self.visitors}


def series(
    conn: redis.Redis, space_keys: Sequence[str], *, days: int = SERIES_DAYS,
    now: float | None = None, prefix: str = PREFIX,
) -> list[DayVisits]:
    """The last ``days`` UTC days, oldest first, summed over ``space_keys`` (visitors are
    the union's estimate: PFCOUNT over several HyperLogLogs)."""
    now = time.time() if now is None else now
    keys = VisitKeys(prefix)
    today = datetime.fromtimestamp(now, UTC).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    if not space_keys:
        return [DayVisits(d, 0, 0) for d in dates]
    pipe = conn.pipeline(transaction=False)
    for d in dates:
        stamp = d.strftime("%Y%m%d")
        pipe.mget([keys.count(k, stamp) for k in space_keys])
        pipe.pfcount(*[keys.visitors(k, stamp) for k in space_keys])
    answers = pipe.execute()
    out = []
    for index, d in enumerate(dates):
        counts, visitors = answers[2 * index], answers[2 * index + 1]
        out.append(DayVisits(d, sum(int(c) for c in counts if c is not None), int(visitors)))
    return out
