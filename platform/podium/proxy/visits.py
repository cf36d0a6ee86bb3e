"""Page visits the Python proxy forwards (what nginx hands over, or everything on the
python data plane), counted by the same rule as nginx's (podium.analytics.visits)."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from starlette.requests import HTTPConnection
from starlette.types import Message, Send

from podium.analytics.visits import AsyncVisitRecorder, Visit, is_page_visit

log = logging.getLogger("podium.proxy")


class VisitCounter:
    def __init__(self, conn: aioredis.Redis, prefix: str = "podium") -> None:
        self.recorder = AsyncVisitRecorder(conn, prefix)

    def watch(self, conn: HTTPConnection, space_key: str, send: Send) -> Send:
        """``send``, counting a visit when the Space's answer makes the request one."""
        scope = conn.scope
        if scope["type"] != "http" or scope["method"] != "GET":
            return send
        headers = conn.headers
        fetch_mode, accept = headers.get("sec-fetch-mode"), headers.get("accept")
        if not is_page_visit("GET", 200, fetch_mode, accept):
            return send  # not a navigation whatever the answer
        client = scope.get("client")
        visit = Visit(space_key, client[0] if client else "", headers.get("user-agent", ""))

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and is_page_visit(
                    "GET", message["status"], fetch_mode, accept):
                try:
                    await self.recorder.record(visit)
                except aioredis.RedisError as exc:
                    log.warning("recording a visit failed: %s", exc)
            await send(message)

        return counting
