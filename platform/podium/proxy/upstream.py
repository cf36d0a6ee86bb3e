"""HTTP forwarding: request and response bodies streamed chunk by chunk (never buffered),
bytes passed through untouched (no decompression, so SSE and gzip go as the app sent
them), one pooled client session for every upstream.

The client is aiohttp, not httpx: measured on this data plane (bench/proxy.py, 1 KB
responses, 16 concurrent), httpx's pool managed ~250 requests/s from one process where
aiohttp managed ~4,000, and the proxy's throughput is the client's throughput.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import anyio
from multidict import CIMultiDict
from starlette.types import Receive, Scope, Send
from yarl import URL

from podium.proxy.headers import RawHeaders, header

log = logging.getLogger("podium.proxy")

ResponseHeaders = Callable[[RawHeaders], RawHeaders]
# Failures that mean "nothing answered": the caller shows a 502 page.
_UNAVAILABLE = (aiohttp.ClientConnectionError, asyncio.TimeoutError)


class UpstreamUnavailable(Exception):
    """Nothing answered at the upstream address (connection refused, reset, timed out)
    before a response started: the caller answers with a 502 page."""


class ClientGone(Exception):
    pass


def make_client() -> aiohttp.ClientSession:
    """The pooled session; must be made inside the running event loop."""
    connector = aiohttp.TCPConnector(
        limit=0, ttl_dns_cache=None,
        # Below uvicorn's 5 s keep-alive, so an idle pooled connection is never reused
        # just as the app closes it.
        keepalive_timeout=4.0,
    )
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
        # No read timeout: SSE and long polls may be silent for minutes; a client that goes
        # away cancels the upstream request instead (see forward()).
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=None),
        # A proxy must not add headers of its own.
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
    )


def has_body(scope: Scope) -> bool:
    raw = scope["headers"]
    if header(raw, b"transfer-encoding") is not None:
        return True
    length = header(raw, b"content-length")
    return length is not None and length.strip() not in (b"", b"0")


class _Body:
    """The client's request body as an async iterator for the client, plus an event that says
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
    client: aiohttp.ClientSession, scope: Scope, receive: Receive, send: Send, *,
    base: str, raw_path: str, headers: RawHeaders, rewrite: ResponseHeaders,
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
    request_headers = CIMultiDict(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
    )
    try:
        response = await client.request(
            scope["method"], URL(base + raw_path, encoded=True), headers=request_headers,
            data=body.chunks() if with_body else None, allow_redirects=False,
            compress=None, chunked=None,
        )
    except _UNAVAILABLE as exc:
        raise UpstreamUnavailable(str(exc) or type(exc).__name__) from exc
    try:
        await send({
            "type": "http.response.start", "status": response.status,
            "headers": rewrite(list(response.raw_headers)),
        })
        if scope["method"] == "HEAD" or response.content_length is not None:
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
    except aiohttp.ClientError as exc:
        # The response already started: all we can do is cut the connection so the client
        # sees a truncated body rather than a clean end.
        log.warning("upstream %s broke mid-response: %s", base, exc)
        raise
    finally:
        response.release()


async def _pump(response: aiohttp.ClientResponse, send: Send) -> None:
    async for chunk in response.content.iter_any():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump_until_disconnect(
    response: aiohttp.ClientResponse, send: Send, receive: Receive, body_done: anyio.Event
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
