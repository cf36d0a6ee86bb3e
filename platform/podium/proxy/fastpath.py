"""The proxy's HTTP server protocol: a fast path for plain requests to serving Spaces, and
uvicorn's own protocol (the ASGI pipeline in podium.proxy.app) for everything else.

Why: under load the ASGI path spent most of its time in per-request machinery (a task, a
scope, ASGI messages, aiohttp's client objects) rather than in moving bytes; bench/proxy.py
measured it at a quarter of the upstream's own rate. Here a bodiless HTTP/1.1 request to a
public, serving Space whose route is cached is read, rewritten (the same header policy,
podium.proxy.headers) and written to a kept-alive upstream connection from callbacks, and
the answer is streamed back the same way, with back-pressure both ways.

Every other request, and any request the fast path cannot finish cleanly before it has
answered anything (a route that does not serve, a refused connection), is handed over
untouched: the connection switches to uvicorn's protocol for good and that protocol reads
the same bytes. So websockets, bodies, private Spaces, waking pages, the API and the
proxy's own endpoints keep exactly the ASGI behaviour. Serve with ``http=PROTOCOL``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from podium.proxy.fastplan import FastPlanner, Plan
from podium.proxy.pool import UpstreamConnection, UpstreamPool
from podium.proxy.routing import SpaceTarget
from podium.proxy.wire import (
    HANDOVER,
    LAST_CHUNK,
    RawHeaders,
    RequestHead,
    chunk,
    read_request_head,
    response_head,
)
from podium.routes import Route

log = logging.getLogger("podium.proxy")

PROTOCOL = "podium.proxy.fastpath:FastPathProtocol"
# Pipelined bytes held while a response is in flight before the client is paused.
_MAX_PENDING = 64 * 1024
_NO_BODY = frozenset({204, 304})


def _find_planner(app: Any) -> tuple[FastPlanner, UpstreamPool] | None:
    """The fast path's view of the ProxyApp, under any middleware uvicorn wrapped it in."""
    for _ in range(8):
        fast = getattr(app, "fast", None)
        if isinstance(fast, FastPlanner):
            return fast, app.pool
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


class FastPathProtocol(asyncio.Protocol):
    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self._uvicorn = {"config": config, "server_state": server_state,
                         "app_state": app_state, "_loop": _loop}
        found = _find_planner(config.loaded_app)
        self.planner, self.pool = found if found else (None, None)
        self.state = server_state
        self.loop = _loop or asyncio.get_event_loop()
        self.keep_alive_seconds = float(config.timeout_keep_alive)
        self.transport: asyncio.Transport | None = None
        self.client_ip = ""
        self.buf = bytearray()
        self.reading = True
        self.writable = True
        self.closing = False
        self.last_active = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._reset()

    def _reset(self) -> None:
        """Per exchange: one request and its response."""
        self.busy = False
        self.raw = b""  # the request as the client sent it, for a handover
        self.head: RequestHead | None = None
        self.route: Route | None = None
        self.plan: Plan | None = None
        self.upstream: UpstreamConnection | None = None
        self.started = False  # the response head reached the upstream side of us
        self.chunked = False  # re-framed for the client as chunks
        self.until_close = False  # the upstream ends its body by closing
        # (space, upstream) counted as an open stream
        self.stream_key: tuple[str, str | None] | None = None
        self.out: list[bytes] = []  # output of the current read, written by upstream_flush
        self.held: list[bytes] | None = None  # output held until the stream is counted
        self.done_held = False
        self.retried = False

    # -- asyncio.Protocol (client side) --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.planner is None:
            self._handover(b"")
            return
        self.state.connections.add(self)  # type: ignore[arg-type]
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if isinstance(peer, tuple) else ""
        self.last_active = self.loop.time()
        self._timer = self.loop.call_later(self.keep_alive_seconds, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._next()
        elif len(self.buf) > _MAX_PENDING and self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.state.connections.discard(self)  # type: ignore[arg-type]
        if self._timer is not None:
            self._timer.cancel()
        if self.upstream is not None:
            # The app must see the client go (an SSE generator stops, its stream ends).
            self.upstream.close()
        self._end_stream()
        self._reset()

    def pause_writing(self) -> None:
        self.writable = False
        if self.upstream is not None:
            self.upstream.pause()

    def resume_writing(self) -> None:
        self.writable = True
        if self.upstream is not None and self.held is None:
            self.upstream.resume()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close once the exchange in flight is answered."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    # -- requests ------------------------------------------------------------------------
    def _next(self) -> None:
        if self.closing or self.transport is None or not self.buf:
            return
        head = read_request_head(self.buf)
        if head is None:
            return
        if head == HANDOVER:
            self._handover(bytes(self.buf))
            return
        assert isinstance(head, RequestHead) and self.planner is not None
        self.busy = True
        self.head = head
        self.raw = bytes(self.buf[:head.size])
        del self.buf[:head.size]
        self.state.total_requests += 1
        target = self.planner.target(head)
        if target is None:
            self._handover_request()
            return
        route = self.planner.cached_route(target)
        if route is not None:
            self._route(target, route)
        else:
            self.planner.spawn(self._load(target))

    async def _load(self, target: SpaceTarget) -> None:
        try:
            route = await self.planner.load_route(target)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - e.g. Redis away: the ASGI path answers
            log.warning("fast path: route lookup failed: %s", exc)
            route = None
        if self.transport is None:
            return
        if route is None:
            self._handover_request()
        else:
            self._route(target, route)

    def _route(self, target: SpaceTarget, route: Route) -> None:
        assert self.planner is not None and self.head is not None
        plan = self.planner.plan(self.head, target, route, self.client_ip)
        if plan is None:
            self._handover_request()
            return
        self.route, self.plan = route, plan
        self._send(self.pool.take(plan.address))  # type: ignore[union-attr]

    def _send(self, conn: UpstreamConnection | None) -> None:
        assert self.plan is not None
        if conn is None:
            self.planner.spawn(self._connect(self.plan))  # type: ignore[union-attr]
            return
        self.upstream = conn
        if not self.writable:
            conn.pause()
        conn.send(self.plan.request, self)

    async def _connect(self, plan: Plan) -> None:
        try:
            conn = await self.pool.connect(plan.address)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - refused, unreachable, timed out
            log.info("fast path: upstream %s:%s unavailable: %s", *plan.address, exc)
            if self.transport is not None and self.plan is plan:
                self._handover_request()
            return
        if self.transport is None or self.plan is not plan:
            self.pool.release(conn)  # type: ignore[union-attr]
            return
        self._send(conn)

    # -- pool.Sink: the upstream's answer ------------------------------------------------
    def upstream_head(self, status: int, headers: RawHeaders) -> None:
        assert self.route is not None and self.head is not None
        self.started = True
        length = te = False
        for name, _ in headers:
            lname = name.lower()
            if lname == b"content-length":
                length = True
            elif lname == b"transfer-encoding":
                te = True
        out = self.plan.response.apply(headers)  # type: ignore[union-attr]
        if status < 200:
            self._write(response_head(status, out))
            return
        if status not in _NO_BODY and (te or not length):
            self.chunked = True
            self.until_close = not te
            out = [(n, v) for n, v in out if n.lower() != b"content-length"]
            out.append((b"transfer-encoding", b"chunked"))
            # Open-ended (SSE, streamed downloads): counted as activity while open, and
            # only forwarded once counted, as on the ASGI path.
            self.stream_key = (self.route.space_key, self.route.upstream)
            self.held = []
            self.upstream.pause()  # type: ignore[union-attr]
            self.planner.spawn(self._open_stream(self.stream_key))  # type: ignore[union-attr]
        if not self.head.keep_alive:
            out.append((b"connection", b"close"))
        self._write(response_head(status, out))

    def upstream_body(self, data: bytes) -> None:
        if data:
            self._write(chunk(data) if self.chunked else data)

    def upstream_flush(self) -> None:
        if self.out and self.transport is not None:
            self.transport.write(b"".join(self.out) if len(self.out) > 1 else self.out[0])
        self.out = []

    def upstream_done(self) -> None:
        self.upstream = None
        if self.held is not None:
            self.done_held = True
            return
        if self.chunked:
            self._write(LAST_CHUNK)
        self.upstream_flush()
        self._end_stream()
        keep = self.head is not None and self.head.keep_alive
        self._reset()
        self.last_active = self.loop.time()
        if self.transport is None:
            return
        if not keep or self.closing:
            self.transport.close()
            return
        if not self.reading:
            self.reading = True
            self.transport.resume_reading()
        self._next()

    def upstream_lost(self, exc: BaseException | None) -> None:
        conn, self.upstream = self.upstream, None
        if self.transport is None:
            return
        if not self.started:
            if conn is not None and conn.requests > 1 and not conn.received and not self.retried:
                # A kept-alive connection the app closed as we reused it: safe to resend,
                # the request has no body and nothing was answered.
                self.retried = True
                self._send(self.pool.take(self.plan.address))  # type: ignore[union-attr]
            else:
                self._handover_request()
            return
        if self.until_close and exc is None:
            self.upstream_done()
            return
        # Cut mid-response: the client must see a truncated answer, not a clean end.
        log.warning("fast path: upstream of %s broke mid-response: %s", self.stream_key, exc)
        self.transport.abort()

    # -- helpers -------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        (self.out if self.held is None else self.held).append(data)

    async def _open_stream(self, key: tuple[str, str | None]) -> None:
        try:
            await self.planner.routes.stream_opened(*key)  # type: ignore[union-attr]
        finally:
            held, self.held = self.held, None
            if self.transport is not None and held is not None and self.stream_key == key:
                self.transport.write(b"".join(held))
                if self.done_held:
                    self.done_held = False
                    self.upstream_done()
                elif self.upstream is not None and self.writable:
                    self.upstream.resume()

    def _end_stream(self) -> None:
        key, self.stream_key = self.stream_key, None
        if key is not None and self.planner is not None:
            self.planner.spawn(self.planner.routes.stream_closed(*key))

    def _check_idle(self) -> None:
        if self.transport is None:
            return
        idle = self.loop.time() - self.last_active
        if not self.busy and not self.buf and idle >= self.keep_alive_seconds:
            self.transport.close()
            return
        wait = self.keep_alive_seconds - idle if not self.busy else self.keep_alive_seconds
        self._timer = self.loop.call_later(max(wait, 1.0), self._check_idle)

    def _handover_request(self) -> None:
        """Give the current request (not yet answered) and what follows to uvicorn."""
        pending = self.raw + bytes(self.buf)
        self._reset()
        self._handover(pending)

    def _handover(self, pending: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self.transport = None
        self.state.connections.discard(self)  # type: ignore[arg-type]
        if self._timer is not None:
            self._timer.cancel()
        protocol = HttpToolsProtocol(**self._uvicorn)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if not self.reading:
            transport.resume_reading()
        if pending:
            protocol.data_received(pending)
