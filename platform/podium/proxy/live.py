"""The proxy's asyncio view of the route table: the same Redis layout as
``podium.proxy.routes.RouteTable`` (the scheduler's synchronous side), without blocking the
event loop. The proxy only reads routes; it writes activity, stream counts and wake requests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from podium.keys import RouteKeys as Keys
from podium.proxy.routes import (
    ROUTE_CACHE_SECONDS,
    TOUCH_INTERVAL,
    WAKE_DEDUPE_SECONDS,
    Route,
    stream_field,
)


class LiveRoutes:
    def __init__(
        self, redis: aioredis.Redis, prefix: str = "podium",
        cache_seconds: float = ROUTE_CACHE_SECONDS,
    ) -> None:
        self.redis = redis
        # Serving routes are cached briefly: two Redis round trips per request cost more
        # than the rest of the routing. Routes that do not serve are always read fresh, and
        # the proxy re-reads a cached route when its upstream fails (see ProxyApp).
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Route]] = {}
        self.keys = Keys(prefix)
        # Stream counts are kept per proxy process so a crashed proxy's counts expire with
        # its heartbeat instead of keeping a Space awake forever.
        self.instance = uuid.uuid4().hex
        self._last_touch: dict[str, float] = {}
        # Streams open on this process, by (space, upstream): touched on every heartbeat,
        # because an open websocket is activity even when no new request arrives.
        self.local_streams: dict[tuple[str, str], int] = {}

    async def is_revoked(self, space_key: str, subject: str) -> bool:
        return bool(await self.redis.exists(self.keys.revoked(space_key, subject)))

    async def get(self, space_key: str, *, fresh: bool = False) -> Route | None:
        return await self._cached("k:" + space_key, fresh, lambda: self._get(space_key))

    async def by_subdomain(self, subdomain: str, *, fresh: bool = False) -> Route | None:
        return await self._cached("s:" + subdomain, fresh, lambda: self._by_subdomain(subdomain))

    def cached_by_subdomain(self, subdomain: str) -> Route | None:
        """The cached serving route, without I/O (None: ask ``by_subdomain``)."""
        return self._peek("s:" + subdomain)

    def _peek(self, key: str) -> Route | None:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        return None

    def forget(self, route: Route) -> None:
        self._cache.pop("k:" + route.space_key, None)
        self._cache.pop("s:" + route.subdomain, None)

    async def _cached(
        self, key: str, fresh: bool, load: Callable[[], Awaitable[Route | None]]
    ) -> Route | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and not fresh and now - hit[0] < self.cache_seconds:
            return hit[1]
        route = await load()
        if route is not None and route.serving:
            self._cache[key] = (now, route)
        else:
            self._cache.pop(key, None)
        return route

    async def _get(self, space_key: str) -> Route | None:
        raw = await self.redis.hget(self.keys.routes, space_key)
        return Route.from_json(raw) if raw is not None else None

    async def _by_subdomain(self, subdomain: str) -> Route | None:
        key = await self.redis.hget(self.keys.subdomains, subdomain)
        if key is None:
            return None
        return await self._get(key.decode() if isinstance(key, bytes) else key)

    async def touch(self, space_key: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if self.touch_due(space_key, now):
            await self.write_touch(space_key, now)

    def touch_due(self, space_key: str, now: float) -> bool:
        """Whether activity is to be written now (and, if so, counts it as written): the
        check without I/O, so the fast path awaits nothing on most requests."""
        if now - self._last_touch.get(space_key, float("-inf")) < TOUCH_INTERVAL:
            return False
        self._last_touch[space_key] = now
        return True

    async def write_touch(self, space_key: str, now: float) -> None:
        await self.redis.hset(self.keys.activity, space_key, repr(now))

    async def stream_opened(self, space_key: str, upstream: str | None = None) -> None:
        local = (space_key, upstream or "")
        self.local_streams[local] = self.local_streams.get(local, 0) + 1
        await self.heartbeat()
        await self.redis.hincrby(
            self.keys.streams(space_key), stream_field(self.instance, upstream), 1)

    async def stream_closed(self, space_key: str, upstream: str | None = None) -> None:
        local = (space_key, upstream or "")
        left = self.local_streams.get(local, 1) - 1
        if left > 0:
            self.local_streams[local] = left
        else:
            self.local_streams.pop(local, None)
        await self.redis.hincrby(
            self.keys.streams(space_key), stream_field(self.instance, upstream), -1)
        # A stream that just ended was activity up to now.
        await self.touch(space_key)

    async def heartbeat(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        await self.redis.zadd(self.keys.proxies, {self.instance: now})
        for space_key in {key for key, _ in self.local_streams}:
            await self.touch(space_key, now)

    async def request_wake(self, space_key: str) -> None:
        fresh = await self.redis.set(
            self.keys.wake_pending(space_key), "1", nx=True, ex=WAKE_DEDUPE_SECONDS
        )
        if fresh:
            await self.redis.lpush(self.keys.wake, space_key)

    async def forget_instance(self) -> None:
        """On clean shutdown: this process's streams are gone."""
        await self.redis.zrem(self.keys.proxies, self.instance)
        for space_key, upstream in list(self.local_streams):
            await self.redis.hdel(
                self.keys.streams(space_key), stream_field(self.instance, upstream))
        self.local_streams.clear()
