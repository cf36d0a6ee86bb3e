"""A real upstream for proxy tests and benchmarks (HTTP echo, large streaming bodies, SSE,
websocket echo), a helper that runs any ASGI app under uvicorn on a loopback port, and a
synchronous stand-in for a proxy's writes to the route table (ProxyStandIn).

``python -m podium.proxy.testing --port N`` serves the upstream in its own process."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from podium.children import free_port
from podium.routes import TOUCH_INTERVAL, WAKE_DEDUPE_SECONDS, RouteTable, stream_field

CHUNK = 64 * 1024
KB = b"x" * 1024


def blocks(size: int) -> Iterator[bytes]:
    """``size`` deterministic bytes, chunk by chunk (never held in memory at once)."""
    sent = 0
    i = 0
    while sent < size:
        block = (hashlib.sha256(str(i).encode()).digest() * (CHUNK // 32))[: size - sent]
        sent += len(block)
        i += 1
        yield block


def digest_of(size: int) -> str:
    digest = hashlib.sha256()
    for block in blocks(size):
        digest.update(block)
    return digest.hexdigest()


async def pattern(size: int) -> AsyncIterator[bytes]:
    for block in blocks(size):
        yield block


async def echo(request: Request) -> Response:
    return JSONResponse({
        "method": request.method, "path": request.url.path,
        "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
        "query": request.url.query, "headers": dict(request.headers),
        "client": request.client.host if request.client else None,
    }, headers={"x-frame-options": "SAMEORIGIN", "connection": "x-hop", "x-hop": "1"})


async def kb(request: Request) -> Response:
    return Response(KB, media_type="application/octet-stream")


async def big(request: Request) -> Response:
    size = int(request.query_params.get("size", str(20 * 1024 * 1024)))
    return StreamingResponse(pattern(size), media_type="application/octet-stream")


async def upload(request: Request) -> Response:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"size": size, "sha256": digest.hexdigest()})


async def sse(request: Request) -> Response:
    count = int(request.query_params.get("n", "5"))
    interval = float(request.query_params.get("interval", "0.1"))

    async def events() -> AsyncIterator[bytes]:
        for i in range(count):
            yield f"id: {i}\ndata: {time.time()!r}\n\n".encode()
            await asyncio.sleep(interval)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})


async def ws_echo(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="echo.v1" if "echo.v1" in offered else None)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                text = message["text"]
                if text.startswith("close:"):
                    await websocket.close(int(text.split(":", 1)[1]), reason="asked")
                    return
                if text == "headers":
                    await websocket.send_json(dict(websocket.headers))
                    continue
                await websocket.send_text(text)
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


def upstream_app() -> Starlette:
    return Starlette(routes=[
        Route("/kb", kb),
        Route("/big", big),
        Route("/upload", upload, methods=["POST", "PUT"]),
        Route("/sse", sse),
        WebSocketRoute("/ws", ws_echo),
        Route("/{path:path}", echo, methods=["GET", "POST", "HEAD", "DELETE", "PUT"]),
    ])


@contextmanager
def localhost_resolver() -> Iterator[None]:
    """Resolve *.localhost to loopback in this process, as browsers do (RFC 6761), so
    Spaces' hosts answer without editing /etc/hosts."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]


def settles(check: Callable[[], bool], within: float = 5.0) -> bool:
    """Wait for ``check`` to hold: the proxy finishes its bookkeeping (stream counts,
    activity) just after the client saw the end of a stream."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class ServerThread:
    """Runs an ASGI app under uvicorn in a background thread; a context manager."""

    def __init__(
        self, app: object, port: int | None = None, *, start_timeout: float = 30.0,
        **config: object,
    ) -> None:
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning",  # type: ignore[arg-type]
            server_header=False, date_header=False, proxy_headers=False, **config,  # type: ignore[arg-type]
        ))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m podium.proxy.testing")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(upstream_app(), host="127.0.0.1", port=args.port, access_log=False,
                server_header=False, date_header=False)


if __name__ == "__main__":
    main()


class ProxyStandIn(RouteTable):
    """The route table plus what a proxy writes into it (activity, stream counts, its
    heartbeat, wake requests), synchronously: for tests and benches that play a proxy
    beside a scheduler. The proxy itself writes through podium.proxy.live.LiveRoutes."""

    def __init__(self, redis: Any, prefix: str = "podium") -> None:
        super().__init__(redis, prefix)
        self.instance = uuid.uuid4().hex
        self._last_touch: dict[str, float] = {}

    def touch(self, space_key: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if now - self._last_touch.get(space_key, float("-inf")) < TOUCH_INTERVAL:
            return
        self._last_touch[space_key] = now
        self.redis.hset(self.keys.activity, space_key, repr(now))

    def stream_opened(self, space_key: str, upstream: str | None = None) -> None:
        self.heartbeat()
        self.redis.hincrby(self.keys.streams(space_key), stream_field(self.instance, upstream), 1)

    def stream_closed(self, space_key: str, upstream: str | None = None) -> None:
        self.redis.hincrby(self.keys.streams(space_key), stream_field(self.instance, upstream), -1)

    def heartbeat(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.redis.zadd(self.keys.proxies, {self.instance: now})

    def request_wake(self, space_key: str) -> None:
        if self.redis.set(self.keys.wake_pending(space_key), "1", nx=True,
                          ex=WAKE_DEDUPE_SECONDS):
            self.redis.lpush(self.keys.wake, space_key)
