"""HTTP forwarding: request and response bodies streamed chunk by chunk (never buffered),
bytes passed through untouched (no decompression, so SSE and gzip go as the app sent
them), one pooled httpx client for every upstream."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import httpx
from starlette.types import Receive, Scope, Send

from podium.proxy.headers import RawHeaders, header

log = logging.getLogger("podium.proxy")

ResponseHeaders = Callable[[RawHeaders], RawHeaders]


class UpstreamUnavailable(Exception):
    """Nothing answered at the upstream address (connection refused, reset, timed out)
    before a response started: the caller answers with a 502 page."""


class ClientGone(Exception):
    pass


def make_client() -> httpx.AsyncClient:
    # No read timeout: SSE and long polls may be silent for minutes; a client that goes
    # away cancels the upstream request instead (see forward()).
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=5.0, read=None, write=60.0, pool=10.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
        follow_redirects=False,
        trust_env=False,
    )
    # httpx adds Accept-Encoding and User-Agent by default; a proxy must not.
    client.headers.clear()
    return client


def has_body(scope: Scope) -> bool:
    raw = scope["headers"]
    if header(raw, b"transfer-encoding") is not None:
        return True
    length = header(raw, b"content-length")
    return length is not None and length.strip() not in (b"", b"0")


class _Body:
    """The client's request body as an async iterator for httpx, plus an event that says
    when it has been read (only then may the proxy listen for the client disconnecting)."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = anyio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                break
        self.done.set()


async def forward(
    client: httpx.AsyncClient, scope: Scope, receive: Receive, send: Send, *,
    base: httpx.URL, raw_path: str, headers: RawHeaders, rewrite: ResponseHeaders,
    on_stream: Callable[[bool], Awaitable[None]] | None = None,
) -> None:
    """Forward one HTTP request to ``base`` + ``raw_path`` and stream the answer back.

    ``on_stream(True/False)`` is awaited around responses that are open-ended (no
    Content-Length: SSE, chunked downloads), which count as activity while open.
    Raises UpstreamUnavailable when the upstream did not answer at all.
    """
    body = _Body(receive)
    with_body = has_body(scope)
    if not with_body:
        body.done.set()
    request = client.build_request(
        scope["method"], base.copy_with(raw_path=raw_path.encode("latin-1")),
        headers=headers, content=body.chunks() if with_body else None,
    )
    try:
        response = await client.send(request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
            httpx.ReadError, httpx.PoolTimeout) as exc:
        raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
    try:
        await send({
            "type": "http.response.start", "status": response.status_code,
            "headers": rewrite(response.headers.raw),
        })
        if scope["method"] == "HEAD" or "content-length" in response.headers:
            # Bounded: stream it straight through (the common, fast path).
            await _pump(response, send)
            return
        if on_stream is not None:
            await on_stream(True)
        try:
            await _pump_until_disconnect(response, send, receive, body.done)
        finally:
            if on_stream is not None:
                with anyio.CancelScope(shield=True):
                    await on_stream(False)
    except httpx.HTTPError as exc:
        # The response already started: all we can do is cut the connection so the client
        # sees a truncated body rather than a clean end.
        log.warning("upstream %s broke mid-response: %s", base, exc)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await response.aclose()


async def _pump(response: httpx.Response, send: Send) -> None:
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump_until_disconnect(
    response: httpx.Response, send: Send, receive: Receive, body_done: anyio.Event
) -> None:
    """Stream an open-ended response and stop as soon as the client goes away, so an SSE
    stream nobody reads does not keep the upstream (and the Space's activity) alive."""
    async with anyio.create_task_group() as tg:

        async def pump() -> None:
            await _pump(response, send)
            tg.cancel_scope.cancel()

        async def watch() -> None:
            await body_done.wait()
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(pump)
        tg.start_soon(watch)
