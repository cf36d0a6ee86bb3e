"""Kept-alive HTTP/1.1 connections to Spaces' containers for the fast path: one request at
a time per connection, the response parsed by httptools (llhttp) and handed to a ``Sink``
callback by callback, so a forwarded request costs no task and no await."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Protocol

import httptools

from podium.proxy.wire import RawHeaders

# Below uvicorn's default 5 s keep-alive: an idle connection is never reused just as the
# app closes it (the race that remains is retried, see Sink.upstream_lost).
IDLE_SECONDS = 4.0
CONNECT_TIMEOUT = 5.0


class Sink(Protocol):
    """What receives one response (the client side of an exchange)."""

    def upstream_head(self, status: int, headers: RawHeaders) -> None: ...
    def upstream_body(self, data: bytes) -> None: ...
    def upstream_flush(self) -> None: ...
    def upstream_done(self) -> None: ...
    def upstream_lost(self, exc: BaseException | None) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool, address: tuple[str, int]) -> None:
        self.pool = pool
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sink: Sink | None = None
        self.headers: RawHeaders = []
        self.requests = 0  # sent on this connection, the current one included
        self.received = False  # any byte of the current response
        self.reading = True
        self.idle_since = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        sink = self.sink
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # noqa: BLE001 - a broken answer ends the exchange
            self._fail(exc)
            return
        if sink is not None and self.sink is sink:
            # One write per read rather than per parser callback: the head and a small
            # body leave in one send.
            sink.upstream_flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pool.discard(self)
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.upstream_lost(exc)

    # -- httptools callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.sink is None:
            raise httptools.HttpParserError("response without a request")
        self.sink.upstream_head(self.parser.get_status_code(), self.headers)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.upstream_body(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return  # an interim answer: the final one follows on this connection
        sink, self.sink = self.sink, None
        if self.parser.should_keep_alive():
            self.pool.release(self)
        else:
            self.close()
        if sink is not None:
            sink.upstream_done()

    # -- used by the exchange ------------------------------------------------------------
    def send(self, data: bytes, sink: Sink) -> None:
        assert self.transport is not None
        self.sink = sink
        self.requests += 1
        self.received = False
        self.transport.write(data)

    def pause(self) -> None:
        if self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()

    def resume(self) -> None:
        if not self.reading and self.transport is not None:
            self.reading = True
            self.transport.resume_reading()

    def close(self) -> None:
        """Drop the connection without telling the sink (the exchange is over)."""
        self.sink = None
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self.pool.discard(self)

    def _fail(self, exc: BaseException) -> None:
        sink, self.sink = self.sink, None
        self.close()
        if sink is not None:
            sink.upstream_lost(exc)


class UpstreamPool:
    """Idle connections by (host, port). Connections are made on demand, kept while the
    upstream keeps them alive and dropped once idle for IDLE_SECONDS."""

    def __init__(self) -> None:
        self._idle: defaultdict[tuple[str, int], list[UpstreamConnection]] = defaultdict(list)
        self._all: set[UpstreamConnection] = set()

    def take(self, address: tuple[str, int]) -> UpstreamConnection | None:
        """An idle connection to ``address`` ready for a request, if there is one."""
        idle = self._idle.get(address)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.transport is not None and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        return None

    async def connect(self, address: tuple[str, int]) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        conn = UpstreamConnection(self, address)
        await asyncio.wait_for(
            loop.create_connection(lambda: conn, *address), CONNECT_TIMEOUT)
        self._all.add(conn)
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        conn.resume()
        conn.idle_since = time.monotonic()
        self._idle[conn.address].append(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        self._all.discard(conn)
        idle = self._idle.get(conn.address)
        if idle and conn in idle:
            idle.remove(conn)

    def idle_count(self, address: tuple[str, int] | None = None) -> int:
        if address is not None:
            return len(self._idle.get(address, ()))
        return sum(len(conns) for conns in self._idle.values())

    def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._idle.clear()
