"""A request body read as it arrives, and what is left of it thrown away when the server
refuses it early (an LFS object or a push over its limit).

Answering before the client has sent its whole body leaves the rest in flight: curl then
fails the request without showing the answer, and the data plane (nginx, which streams
bodies to the app unbuffered) may close a keep-alive connection after telling the client
to keep it, so the client's next request on it dies with "server disconnected". Reading
on, keeping nothing, up to a ceiling, avoids both; past the ceiling the connection is
let go."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

# How much more than a limit the server reads (and throws away) to answer cleanly.
DRAIN_FACTOR = 4


async def discard_rest(receive: Receive, message: Message, received: int, ceiling: int) -> bool:
    """Reads the body after ``message`` (the last one received, ``received`` bytes so far)
    to its end, keeping nothing. False when the client went away or sent past ``ceiling``."""
    while message.get("more_body", False):
        if received > ceiling:
            return False
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        received += len(message.get("body", b""))
    return True


class RequestBody:
    """The body of one request as chunks, remembering where reading stopped."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.received = 0
        self.last: Message = {"type": "http.request", "body": b"", "more_body": True}

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.last.get("more_body", False):
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            self.last = message
            chunk = message.get("body", b"")
            self.received += len(chunk)
            if chunk:
                yield chunk

    async def discard(self, limit: int) -> bool:
        """Throws the rest away (see the module's doc), reading at most ``DRAIN_FACTOR``
        times ``limit``."""
        return await discard_rest(self.receive, self.last, self.received, limit * DRAIN_FACTOR)
