"""Websocket forwarding: the client's handshake is accepted only once the upstream
accepted (with the subprotocol the upstream chose); then text and binary frames flow both
ways and a close on either side is passed on with its code and reason."""

from __future__ import annotations

import logging

import anyio
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from podium.proxy.headers import RawHeaders

log = logging.getLogger("podium.proxy")

# Codes that only describe a close and may never be sent in a close frame (RFC 6455 7.4.1).
_RESERVED = {1005: 1000, 1006: 1011, 1015: 1011}


def sendable(code: int | None) -> int:
    if code is None:
        return 1000
    return _RESERVED.get(code, code)


async def deny(scope: Scope, send: Send, status: int, body: bytes, ctype: bytes) -> None:
    """Refuse a handshake with an HTTP answer when the server supports it (uvicorn does),
    else with a plain close (which servers turn into 403)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({
            "type": "websocket.http.response.start", "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1013 if status == 503 else 1008})


class UpstreamRefused(Exception):
    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def bridge(
    scope: Scope, receive: Receive, send: Send, *, uri: str, host: str, port: int,
    headers: RawHeaders,
) -> None:
    """Connect to the upstream at ``host:port`` (``uri`` carries the public Host and the
    path, so the app sees the same Host header as over HTTP) and relay until one side
    closes. Raises UpstreamRefused before accepting when the upstream says no."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    try:
        upstream = await connect(
            uri, host=host, port=port, additional_headers=extra,
            subprotocols=scope.get("subprotocols") or None,  # type: ignore[arg-type]
            compression=None, max_size=None, open_timeout=10, ping_interval=None,
            user_agent_header=None, proxy=None,
        )
    except InvalidStatus as exc:
        raise UpstreamRefused(exc.response.status_code, str(exc)) from exc
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise UpstreamRefused(None, str(exc) or type(exc).__name__) from exc
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay(receive, send, upstream)


async def _relay(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    async with anyio.create_task_group() as tg:

        async def client_to_upstream() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    code = sendable(message.get("code", 1000))
                    await upstream.close(code, message.get("reason") or "")
                    break
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])
            tg.cancel_scope.cancel()

        async def upstream_to_client() -> None:
            try:
                try:
                    async for data in upstream:
                        if isinstance(data, bytes):
                            await send({"type": "websocket.send", "bytes": data})
                        else:
                            await send({"type": "websocket.send", "text": data})
                except ConnectionClosed:
                    pass
                rcvd = upstream.close_code
                await send({
                    "type": "websocket.close", "code": sendable(rcvd),
                    "reason": upstream.close_reason or "",
                })
            except OSError:
                pass  # the client went first (uvicorn's ClientDisconnected): nothing to tell
            tg.cancel_scope.cancel()

        tg.start_soon(client_to_upstream)
        tg.start_soon(upstream_to_client)
