"""The proxy pipeline's decisions (podium.proxy.app) for the requests the fast path serves
itself, made without awaiting: resolve, cached route, open policy, activity, then the
upstream request's bytes. Whatever it cannot decide the same way the ASGI path would is
answered with None, and the request goes to the ASGI path unchanged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from podium.config import Settings
from podium.proxy.access import AccessPolicy
from podium.proxy.headers import ForwardedFor, ResponsePolicy, header, request_headers
from podium.proxy.live import LiveRoutes
from podium.proxy.routing import SpaceTarget, resolve, upstream_path
from podium.proxy.wire import RequestHead, request_bytes
from podium.routes import Route

log = logging.getLogger("podium.proxy")


@dataclass(slots=True)
class Plan:
    route: Route
    address: tuple[str, int]
    request: bytes  # the whole request to write upstream
    response: ResponsePolicy


@lru_cache(maxsize=4096)
def upstream_address(upstream: str) -> tuple[str, int] | None:
    """(host, port) of a plain-HTTP upstream URL; None for anything else."""
    parts = urlsplit(upstream)
    if parts.scheme != "http" or not parts.hostname:
        return None
    return parts.hostname, parts.port or 80


class FastPlanner:
    def __init__(self, settings: Settings, routes: LiveRoutes, policy: AccessPolicy) -> None:
        self.domain = settings.domain
        self.scheme = settings.scheme
        self.trusted_front = settings.proxy_trusted_front
        self.routes = routes
        self.policy = policy
        self._tasks: set[asyncio.Task[Any]] = set()
        # By route object (held, so its id is not reused): cached routes are shared objects.
        self._policies: dict[int, tuple[Route, ResponsePolicy]] = {}

    def target(self, head: RequestHead) -> SpaceTarget | None:
        """The Space a request is for, when the fast path may serve it (not the API, not a
        redirect, not the proxy's own endpoints)."""
        target = resolve(head.host.decode("latin-1"), head.target.decode("latin-1"), self.domain)
        if isinstance(target, SpaceTarget) and target.control is None:
            return target
        return None

    def cached_route(self, target: SpaceTarget) -> Route | None:
        return self.routes.cached_by_subdomain(target.lookup)

    async def load_route(self, target: SpaceTarget) -> Route | None:
        return await self.routes.by_subdomain(target.lookup)

    def plan(
        self, head: RequestHead, target: SpaceTarget, route: Route, client_ip: str
    ) -> Plan | None:
        """What to send where, or None when the ASGI path must answer (a Space that does
        not serve, a gated one, an upstream that is not plain HTTP)."""
        if not route.served_plainly or not self.policy.open_to_all(route):
            return None
        address = upstream_address(route.upstream or "")
        if address is None:
            return None
        now = time.time()
        if self.routes.touch_due(route.space_key, now):
            self.spawn(self.routes.write_touch(route.space_key, now))
        fwd = ForwardedFor(self.client_of(head, client_ip), head.host.decode("latin-1"),
                           self.scheme)
        path = upstream_path(target, route).encode("latin-1")
        request = request_bytes(head.method, path, request_headers(head.headers, fwd))
        return Plan(route, address, request, self._policy(route))

    def client_of(self, head: RequestHead, peer: str) -> str:
        """The client's address: the peer's, or what a trusted front proxy says it was."""
        if self.trusted_front and self.trusted_front in ("*", peer):
            claimed = header(head.headers, b"x-forwarded-for")
            if claimed:
                return claimed.rsplit(b",", 1)[-1].strip().decode("latin-1")
        return peer

    def _policy(self, route: Route) -> ResponsePolicy:
        hit = self._policies.get(id(route))
        if hit is not None and hit[0] is route:
            return hit[1]
        if len(self._policies) > 1024:
            self._policies.clear()
        policy = ResponsePolicy.for_route(route)
        self._policies[id(route)] = (route, policy)
        return policy

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run Redis bookkeeping beside the response; failures are logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("proxy bookkeeping failed: %s", task.exception())
