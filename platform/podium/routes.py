"""The route table: the one contract between the scheduler and controller (write routes,
read activity and stream counts, wait for wake requests) and the proxy (reads routes; writes
activity, open-stream counts and wake requests from its asyncio side, podium.proxy.live).
Backed by Redis so any number of proxies and one scheduler share it. Below the proxy, the
controller and the scheduler: all of them import it, it imports none of them.

Redis layout under ``{prefix}``:

- ``routes``            hash  space_key -> Route JSON
- ``routes:subdomain``  hash  subdomain -> space_key
- ``activity``          hash  space_key -> unix time of the last request seen
- ``streams:{key}``     hash  "{proxy instance id} {upstream}" -> open websocket/SSE streams
  on that proxy to that version of the Space (the upstream tells versions apart during a swap)
- ``proxies``           zset  proxy instance id -> last heartbeat (unix time); a crashed
  proxy's stream counts stop counting once its heartbeat is stale
- ``wake``              list  space keys a proxy asked the scheduler to wake
- ``wake:pending:{key}`` string  de-duplicates wake requests for a few seconds
- ``routes:gen``        int   bumped by every route change
- ``planes``            zset  data plane instance id (an nginx a proxy drives) -> heartbeat
- ``planes:applied``    hash  data plane instance id -> the ``routes:gen`` it serves with
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import redis

from podium.keys import RouteKeys as Keys
from podium.names import SpaceId
from podium.spaces.stage import Sdk, Stage

# A proxy refreshes its heartbeat this often; counts from proxies silent for STALE are ignored.
HEARTBEAT_SECONDS = 10.0
STALE_PROXY_SECONDS = 3 * HEARTBEAT_SECONDS
# Activity is written at most this often per space and process: every request touches.
TOUCH_INTERVAL = 1.0
# How long a Python proxy reuses a serving route without asking Redis (podium.proxy.live).
ROUTE_CACHE_SECONDS = 1.0
# A burst of requests for a sleeping space queues one wake request, not thousands.
WAKE_DEDUPE_SECONDS = 5


def path_prefix(space_id: SpaceId) -> str:
    """The canonical path prefix of a Space (no slash at the end): the root path Gradio and
    Streamlit apps are started with (so the URLs they build match the Space's path URL,
    which redirects to its host), stripped or re-added by the proxy on the Space's host.
    Lower-cased: the proxy matches it case-insensitively and always forwards this
    spelling, so a Streamlit base path fixed at start matches every spelling."""
    return f"/spaces/{space_id.key}"


@lru_cache(maxsize=4096)
def _route_prefix(owner: str, name: str) -> str:
    # Memoized: the proxy asks on every request, and a SpaceId validates its names.
    return path_prefix(SpaceId(owner, name))


@lru_cache(maxsize=64)
def _stage_serves(stage: str) -> bool:
    try:
        return Stage(stage).is_serving
    except ValueError:
        return False


def container_env(space_id: SpaceId, sdk: str) -> dict[str, str]:
    """Environment a Space's container needs to work behind the proxy, by host and by path.

    Streamlit fixes its base URL path at start, so it always serves under the canonical
    prefix and the proxy adds that prefix for host routing. Gradio serves at "/" but builds
    its public URLs from X-Forwarded-Host plus its root path (it ignores X-Forwarded-Prefix),
    so it is told the canonical prefix; by host, URLs then carry the prefix and the proxy
    strips it again (podium.proxy.routing.upstream_path).
    """
    prefix = path_prefix(space_id)
    if sdk == Sdk.STREAMLIT:
        return {"STREAMLIT_SERVER_BASE_URL_PATH": prefix.lstrip("/")}
    if sdk == Sdk.GRADIO:
        return {"GRADIO_ROOT_PATH": prefix}
    return {}


@dataclass
class Route:
    space_key: str  # SpaceId.key, "owner/name" lower-cased
    subdomain: str  # SpaceId.subdomain
    owner: str  # as the user spelled it
    name: str
    upstream: str | None  # "http://172.18.0.5:7860" when a container serves, else None
    sdk: str  # Sdk value
    stage: str  # Stage value
    private: bool = False
    disable_embedding: bool = False
    custom_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_space(
        cls, space_id: SpaceId, *, upstream: str | None, sdk: str, stage: str, **extra: Any
    ) -> Route:
        return cls(
            space_key=space_id.key, subdomain=space_id.subdomain, owner=space_id.owner,
            name=space_id.name, upstream=upstream, sdk=str(sdk), stage=str(stage), **extra,
        )

    @property
    def space_id(self) -> SpaceId:
        return SpaceId(self.owner, self.name)

    @property
    def prefix(self) -> str:
        return _route_prefix(self.owner, self.name)

    @property
    def serving(self) -> bool:
        """An upstream is there and the stage says a version of the app answers."""
        return self.upstream is not None and _stage_serves(self.stage)

    @property
    def served_plainly(self) -> bool:
        """A version answers and anyone may reach it: its plain requests need no grant, no
        waking page and no start, so a data plane may serve them without the Python proxy's
        pipeline. The one rule of what nginx serves itself (podium.proxy.plane.nginxlua
        records exactly these Spaces; nginx hands every other one to the Python proxy)."""
        return self.serving and not self.private

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Route:
        data = json.loads(raw)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def stream_field(instance: str, upstream: str | None) -> str:
    return f"{instance} {upstream or ''}"


def count_live_streams(
    counts: dict[Any, Any], heartbeats: dict[str, float], now: float,
    upstream: str | None = None,
) -> int:
    """Sum of per-proxy stream counts, skipping proxies whose heartbeat is stale; with
    ``upstream``, only streams to that version of the Space."""
    total = 0
    for name, count in counts.items():
        instance, _, to = (_text(name) or "").partition(" ")
        if upstream is not None and to != upstream:
            continue
        beat = heartbeats.get(instance)
        if beat is not None and now - beat <= STALE_PROXY_SECONDS:
            total += max(int(count), 0)
    return total


class RouteTable:
    """Synchronous access for the scheduler and the controller."""

    def __init__(self, redis: redis.Redis, prefix: str = "podium") -> None:
        self.redis = redis
        self.keys = Keys(prefix)

    def revoke_grants(self, space_key: str, subject: str, ttl: float) -> None:
        """Refuse grants already issued to ``subject`` (e.g. "share:shr_ab12") from now on.
        The marker lives as long as such a grant could, then expires with them."""
        self.redis.set(self.keys.revoked(space_key, subject), 1, ex=max(1, int(ttl)))

    # -- routes (the scheduler writes) ---------------------------------------------------
    def put(self, route: Route) -> None:
        old = self.get(route.space_key)
        pipe = self.redis.pipeline(transaction=True)
        if old is not None and old.subdomain != route.subdomain:
            pipe.hdel(self.keys.subdomains, old.subdomain)
        pipe.hset(self.keys.routes, route.space_key, route.to_json())
        pipe.hset(self.keys.subdomains, route.subdomain, route.space_key)
        if route.stage == Stage.SLEEPING:
            # A new sleep: the next request must wake it, even within the few seconds a
            # wake request from before is de-duplicated for.
            pipe.delete(self.keys.wake_pending(route.space_key))
        pipe.incr(self.keys.generation)
        pipe.execute()

    def get(self, space_key: str) -> Route | None:
        raw = self.redis.hget(self.keys.routes, space_key)
        return Route.from_json(raw) if raw is not None else None  # type: ignore[arg-type]

    def by_subdomain(self, subdomain: str) -> Route | None:
        key = _text(self.redis.hget(self.keys.subdomains, subdomain))  # type: ignore[arg-type]
        return self.get(key) if key is not None else None

    def remove(self, space_key: str) -> None:
        old = self.get(space_key)
        pipe = self.redis.pipeline(transaction=True)
        if old is not None:
            pipe.hdel(self.keys.subdomains, old.subdomain)
        pipe.hdel(self.keys.routes, space_key)
        pipe.hdel(self.keys.activity, space_key)
        pipe.delete(self.keys.streams(space_key), self.keys.wake_pending(space_key))
        pipe.incr(self.keys.generation)
        pipe.execute()

    def all(self) -> list[Route]:
        raw: dict[bytes, bytes] = self.redis.hgetall(self.keys.routes)  # type: ignore[assignment]
        return sorted((Route.from_json(v) for v in raw.values()), key=lambda r: r.space_key)

    # -- activity and streams (the proxy writes, podium.proxy.live; the scheduler reads) --
    def last_activity(self, space_key: str) -> float | None:
        raw = _text(self.redis.hget(self.keys.activity, space_key))  # type: ignore[arg-type]
        return float(raw) if raw is not None else None

    def open_streams(
        self, space_key: str, now: float | None = None, *, upstream: str | None = None
    ) -> int:
        """Websockets and event streams open to the Space (with ``upstream``: to that
        version of it) on every live proxy."""
        now = time.time() if now is None else now
        counts = self.redis.hgetall(self.keys.streams(space_key))
        if not counts:
            return 0
        beats = self.redis.zrange(self.keys.proxies, 0, -1, withscores=True)
        heartbeats = {_text(m) or "": float(s) for m, s in beats}  # type: ignore[union-attr]
        return count_live_streams(counts, heartbeats, now, upstream)  # type: ignore[arg-type]

    # -- data planes (a proxy's nginx applies the table; the scheduler waits for it) -----
    def generation(self) -> int:
        return int(_text(self.redis.get(self.keys.generation)) or 0)  # type: ignore[arg-type]

    def mark_applied(self, plane: str, generation: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self.keys.planes, {plane: now})
        pipe.hset(self.keys.applied, plane, generation)
        pipe.execute()

    def forget_plane(self, plane: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.keys.planes, plane)
        pipe.hdel(self.keys.applied, plane)
        pipe.execute()

    def settle(self, timeout: float = 10.0) -> bool:
        """Block until every proxy routes with the table as it is now: each nginx has
        applied it and each Python proxy's route cache has expired. For changes that must
        hold when the call returns (a Space made private)."""
        applied = self.wait_applied(timeout)
        time.sleep(ROUTE_CACHE_SECONDS)
        return applied

    def wait_applied(self, timeout: float, poll: float = 0.05) -> bool:
        """Block until every live data plane serves with the route table as it is now
        (True at once when no proxy runs one; False when ``timeout`` passed first).

        Called after a route stops sending traffic to a container and before that
        container is frozen or stopped: a frozen one would hang requests sent to it."""
        target = self.generation()
        deadline = time.monotonic() + timeout
        while True:
            live = self.redis.zrangebyscore(
                self.keys.planes, time.time() - STALE_PROXY_SECONDS, "+inf")
            if not live:
                return True
            applied = self.redis.hmget(self.keys.applied, live)  # type: ignore[arg-type]
            if all(int(_text(a) or 0) >= target for a in applied):  # type: ignore[union-attr]
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)

    # -- wake (the proxy asks, podium.proxy.live; the scheduler waits) -------------------
    def wait_wake_request(self, timeout: float, also: Sequence[str] = ()) -> str | None:
        """Block up to ``timeout`` seconds for the next space to wake (scheduler side).
        ``also``: other lists whose push ends the wait too (None is returned for them): the
        deploy nudges, so one blocking read serves both."""
        got = self.redis.brpop([self.keys.wake, *also], timeout=timeout)
        if not got or _text(got[0]) != self.keys.wake:  # type: ignore[index]
            return None
        return _text(got[1])  # type: ignore[index]
