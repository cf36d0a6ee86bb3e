"""Running the proxy as its own process (``podium proxy`` / ``python -m podium.proxy``)."""

from __future__ import annotations

import redis.asyncio as aioredis
import uvicorn

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.proxy.app import create_proxy_app
from podium.proxy.fastpath import PROTOCOL


def redis_for(settings: Settings) -> aioredis.Redis:
    if not settings.redis_url:
        raise ServiceUnavailable(
            "the proxy needs the route table's Redis",
            hint="set PODIUM_REDIS_URL (podium up sets it for the processes it starts)",
        )
    return aioredis.Redis.from_url(settings.redis_url)


def factory() -> object:
    """For uvicorn's multi-worker mode, which imports the app in each worker process; the
    process edge builds Settings from the environment there."""
    settings = Settings()
    return create_proxy_app(settings, redis_for(settings))


def serve(settings: Settings, *, workers: int = 1) -> None:
    """Serve on settings.proxy_host:settings.public_port until interrupted."""
    common = dict(
        host=settings.proxy_host, port=settings.public_port, access_log=False,
        # Upstream Date/Server headers are passed through; uvicorn must not add its own.
        server_header=False, date_header=False,
        # The proxy is the public edge: a client's X-Forwarded-For is never believed.
        proxy_headers=False,
        timeout_keep_alive=75,
        # Plain requests to serving Spaces skip the ASGI machinery (podium.proxy.fastpath).
        http=PROTOCOL,
    )
    if workers > 1:
        uvicorn.run("podium.proxy.server:factory", factory=True, workers=workers,
                    **common)  # type: ignore[arg-type]
        return
    uvicorn.run(create_proxy_app(settings, redis_for(settings)), **common)  # type: ignore[arg-type]
