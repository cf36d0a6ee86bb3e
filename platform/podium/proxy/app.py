"""The proxy's ASGI app: the single public door. One pipeline per request:

    resolve (Space host / path URL / API)  ->  route lookup  ->  proxy endpoints (/__podium/...)
    ->  authorize (AccessPolicy)  ->  stage gate (sleeping, starting, paused, failed)
    ->  activity  ->  forward (HTTP stream or websocket bridge)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlsplit

import aiohttp
import anyio
import redis.asyncio as aioredis
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from podium.config import Settings
from podium.grants import GrantSigner
from podium.proxy import pages
from podium.proxy.access import COOKIE, AccessPolicy, GrantPolicy
from podium.proxy.headers import ForwardedFor, request_headers, response_headers, wants_html
from podium.proxy.live import LiveRoutes
from podium.proxy.routing import (
    GitOnSpaceHost,
    SpaceTarget,
    ToApi,
    ToSpaceHost,
    resolve,
    upstream_path,
)
from podium.proxy.upstream import UpstreamUnavailable, forward, has_body, make_client
from podium.proxy.visits import VisitCounter
from podium.proxy.websocket import UpstreamRefused, bridge, deny
from podium.redirects import safe_next
from podium.routes import HEARTBEAT_SECONDS, ROUTE_CACHE_SECONDS, Route
from podium.spaces.stage import Stage

log = logging.getLogger("podium.proxy")

# Stages that end in RUNNING by themselves: worth waiting for, and worth a reloading page.
_COMING = frozenset({Stage.SLEEPING, Stage.APP_STARTING, Stage.BUILDING})
# A thawed Space answers in ~40 ms: polling the route at 4 Hz added up to a quarter of a
# second to that wake. One small Redis read per waiting request per poll.
_WAIT_POLL_SECONDS = 0.05


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return (raw + b"?" + query if query else raw).decode("latin-1")


def _cross_site_frame(request: Request) -> bool:
    """Whether a browser loads this in a frame of another site (Fetch Metadata; clients
    that send none are top-level by definition)."""
    headers = request.headers
    return (headers.get("sec-fetch-dest") == "iframe"
            and headers.get("sec-fetch-site") == "cross-site")


class ProxyApp:
    def __init__(
        self, settings: Settings, routes: LiveRoutes, *, policy: AccessPolicy | None = None,
        signer: GrantSigner | None = None, client: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        self.visits = VisitCounter(routes.redis, routes.keys.prefix)
        self.signer = signer or GrantSigner.from_settings(settings)
        self.policy = policy or GrantPolicy(self.signer, revoked=routes.is_revoked)
        self.client = client
        self.api = settings.resolved_api_url
        self._api_url = urlsplit(self.api)
        self._heartbeat: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            return
        if self.client is None:  # served without lifespan (some test servers)
            self.client = make_client()
        conn = HTTPConnection(scope)
        target = resolve(conn.headers.get("host", ""), _raw_path(scope), self.settings.domain)
        if isinstance(target, ToSpaceHost):
            # Space code never runs on this origin (podium.proxy.routing): only its host.
            if scope["type"] == "websocket":
                await deny(scope, send, 404, b"not found", b"text/plain")
            else:
                location = self.settings.space_origin(target.space_id) + target.rest
                await RedirectResponse(location, 307)(scope, receive, send)
        elif isinstance(target, ToApi):
            await self._to_api(conn, receive, send)
        elif isinstance(target, GitOnSpaceHost):
            # Never the Space's answer: it could challenge git for the user's credentials.
            await self._page(conn, receive, send, pages.git_on_space_host(
                target.subdomain, self.settings.public_base_url))
        else:
            await self._to_space(conn, target, receive, send)

    # -- the API process -----------------------------------------------------------------
    async def _to_api(self, conn: HTTPConnection, receive: Receive, send: Send) -> None:
        scope = conn.scope
        # The API process is where the session cookie is read (dashboard + JSON API).
        headers = request_headers(
            scope["headers"], self._forwarded(conn), websocket=scope["type"] == "websocket",
            keep_podium_cookies=True,
        )
        try:
            if scope["type"] == "websocket":
                host = conn.headers.get("host") or self.api.split("//", 1)[1]
                await bridge(scope, receive, send, uri=f"ws://{host}{_raw_path(scope)}",
                             host=self._api_url.hostname or "127.0.0.1",
                             port=self._api_url.port or 80,
                             headers=headers)
            else:
                await forward(self.client, scope, receive, send, base=self.api,  # type: ignore[arg-type]
                              raw_path=_raw_path(scope), headers=headers,
                              rewrite=lambda h: response_headers(h, None))
        except (UpstreamUnavailable, UpstreamRefused):
            await self._page(conn, receive, send, pages.api_down())

    # -- a Space -------------------------------------------------------------------------
    async def _to_space(
        self, conn: HTTPConnection, target: SpaceTarget, receive: Receive, send: Send
    ) -> None:
        route = await self.routes.by_subdomain(target.lookup)
        if route is None:
            await self._page(conn, receive, send, pages.not_found(target.lookup))
            return
        label = f"{route.owner}/{route.name}"
        if target.control == "grant" and conn.scope["type"] == "http":
            await self._grant(Request(conn.scope, receive), route)(
                conn.scope, receive, send)
            return
        decision = await self.policy.authorize(conn, route)
        if isinstance(decision, Response):
            await decision(conn.scope, receive, send)
            return
        if not decision:
            # Like a missing Space, word for word (the host as asked, not owner/name): a
            # private Space's existence is not told to strangers.
            await self._page(conn, receive, send, pages.not_found(target.lookup))
            return
        status_url = "/__podium/status"
        if target.control == "status":
            data = {"space": label, "stage": route.stage, "ready": route.serving}
            await JSONResponse(data, headers={"cache-control": "no-store"})(
                conn.scope, receive, send)
            return
        if not route.serving:
            ready = await self._gate(conn, route, status_url, receive, send)
            if ready is None:
                return
            route = ready
        await self.routes.touch(route.space_key)
        send = self.visits.watch(conn, route.space_key, send)
        await self._forward_space(conn, target, route, receive, send)

    async def _gate(
        self, conn: HTTPConnection, route: Route, status_url: str, receive: Receive, send: Send
    ) -> Route | None:
        """A route that does not serve: answer for it (None), or wait until it serves."""
        label = f"{route.owner}/{route.name}"
        stage = route.stage
        # The dashboard's pages of the Space (the route's owner/name went through SpaceId).
        space_page = f"{self.settings.public_base_url}/{label}"
        if stage == Stage.PAUSED:
            await self._page(conn, receive, send, pages.paused(label, f"{space_page}/settings"))
            return None
        if stage not in _COMING:
            await self._page(conn, receive, send, pages.failed(label, stage, f"{space_page}/logs"))
            return None
        if stage == Stage.SLEEPING:
            await self.routes.request_wake(route.space_key)
        if conn.scope["type"] == "websocket" or wants_html(conn.scope["headers"]):
            page = (pages.waking(label, status_url) if stage == Stage.SLEEPING
                    else pages.starting(label, stage, status_url, f"{space_page}/logs"))
            await self._page(conn, receive, send, page)
            return None
        ready = await self._wait_serving(route.space_key)
        if ready is None:
            await self._page(conn, receive, send, pages.wait_timeout(label))
        return ready

    async def _wait_serving(self, space_key: str) -> Route | None:
        """API clients wait (bounded) instead of getting a page they cannot read."""
        deadline = time.monotonic() + self.settings.wake_wait_timeout
        while time.monotonic() < deadline:
            route = await self.routes.get(space_key, fresh=True)
            if route is None:
                return None
            if route.serving:
                return route
            if route.stage == Stage.SLEEPING:
                await self.routes.request_wake(space_key)
            await anyio.sleep(_WAIT_POLL_SECONDS)
        return None

    async def _forward_space(
        self, conn: HTTPConnection, target: SpaceTarget, route: Route, receive: Receive,
        send: Send, *, retry: bool = True,
    ) -> None:
        scope = conn.scope
        base = route.upstream or ""
        upstream = urlsplit(base)
        path = upstream_path(target, route)
        websocket = scope["type"] == "websocket"
        headers = request_headers(
            scope["headers"], self._forwarded(conn), websocket=websocket,
            drop_authorization=self.policy.consumes_bearer and route.private,
        )
        key = route.space_key
        try:
            if websocket:
                await self.routes.stream_opened(key, route.upstream)
                try:
                    host = conn.headers.get("host") or upstream.netloc
                    await bridge(scope, receive, send, uri=f"ws://{host}{path}",
                                 host=upstream.hostname or "", port=upstream.port or 80,
                                 headers=headers)
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.routes.stream_closed(key, route.upstream)
            else:
                async def on_stream(opened: bool) -> None:
                    await (self.routes.stream_opened(key, route.upstream) if opened
                           else self.routes.stream_closed(key, route.upstream))

                await forward(self.client, scope, receive, send, base=base,  # type: ignore[arg-type]
                              raw_path=path, headers=headers,
                              rewrite=lambda h: response_headers(h, route), on_stream=on_stream)
        except (UpstreamUnavailable, UpstreamRefused) as exc:
            log.info("upstream of %s unavailable: %s", key, exc)
            self.routes.forget(route)
            if retry and not websocket and not has_body(scope):
                # The route may have been cached across a swap: retry once on a fresh read.
                latest = await self.routes.get(key, fresh=True)
                if latest is not None and latest.serving and latest.upstream != route.upstream:
                    await self._forward_space(conn, target, latest, receive, send, retry=False)
                    return
            page = pages.upstream_down(f"{route.owner}/{route.name}")
            await self._page(conn, receive, send, page)

    def _grant(self, request: Request, route: Route) -> Response:
        """Turn a grant the API issued into a cookie for this Space's host, then go on."""
        token = request.query_params.get("token", "")
        grant = self.signer.verify(token, route.space_key)
        if grant is None:
            return pages.Page(403, "Link expired", "This access link is invalid or expired.",
                              "Ask the Space's owner for a new link.", "forbidden").html()
        response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
        max_age = max(int(grant.expires - time.time()), 0)
        if _cross_site_frame(request):
            # The dashboard's frame when the Space's host is another site (http://localhost
            # and *.localhost are: no registrable domain): browsers keep only a partitioned
            # cookie there (CHIPS; chromium refuses unpartitioned third-party ones and any
            # Lax one). Partitioned needs Secure, which browsers accept on https and on
            # http://*.localhost. Keyed to the framing site: it lets in only frames of this
            # Space under that site.
            response.set_cookie(COOKIE, token, max_age=max_age, path="/", httponly=True,
                                samesite="none", secure=True)
            # Python < 3.14's http.cookies cannot write the attribute itself.
            name, value = response.raw_headers[-1]
            response.raw_headers[-1] = (name, value + b"; Partitioned")
        else:
            # Top-level visits (share links, "open in a new tab", API clients) and frames
            # of a dashboard on the same site (sibling subdomains of a real domain).
            response.set_cookie(COOKIE, token, max_age=max_age, path="/", httponly=True,
                                samesite="lax", secure=self.settings.scheme == "https")
        return response

    # -- helpers -------------------------------------------------------------------------
    def _forwarded(self, conn: HTTPConnection) -> ForwardedFor:
        client = conn.scope.get("client")
        return ForwardedFor(
            client_ip=client[0] if client else "", host=conn.headers.get("host", ""),
            proto=self.settings.scheme,
        )

    async def _page(
        self, conn: HTTPConnection, receive: Receive, send: Send, page: pages.Page
    ) -> None:
        if conn.scope["type"] == "websocket":
            body = page.json().body
            await deny(conn.scope, send, page.status, bytes(body), b"application/json")
            return
        await page.response(wants_html(conn.scope["headers"]))(conn.scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.client is None:
                    self.client = make_client()
                self._heartbeat = asyncio.create_task(self._beat())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _beat(self) -> None:
        while True:
            try:
                await self.routes.heartbeat()
            except Exception as exc:  # noqa: BLE001 - Redis blips must not kill the loop
                log.warning("route table heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def aclose(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        with contextlib.suppress(Exception):
            await self.routes.forget_instance()
        if self.client is not None:
            await self.client.close()


def create_proxy_app(
    settings: Settings, redis: aioredis.Redis, *, policy: AccessPolicy | None = None,
    prefix: str = "podium", cache_seconds: float = ROUTE_CACHE_SECONDS,
) -> ASGIApp:
    """The proxy as an ASGI app over an asyncio Redis client (the route table's store).
    ``cache_seconds``: how long a serving route is reused without asking Redis."""
    return ProxyApp(settings, LiveRoutes(redis, prefix, cache_seconds), policy=policy)
