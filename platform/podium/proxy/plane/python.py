"""The Python proxy alone on the public port: every request through podium.proxy.app."""

from __future__ import annotations

import socket
from typing import Any

import redis.asyncio as aioredis
import uvicorn

from podium.config import Settings, env_name
from podium.errors import SettingsError
from podium.proxy.app import create_proxy_app
from podium.proxy.plane.base import DataPlane, require_redis


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    trusted = settings.proxy_trusted_front
    return dict(
        access_log=False,
        # Upstream Date/Server headers are passed through; uvicorn must not add its own.
        server_header=False, date_header=False,
        # The proxy is the public edge unless a trusted front says who the client was.
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
        timeout_keep_alive=75,
    )


def factory() -> object:
    """For uvicorn's multi-worker mode, which imports the app in each worker process; the
    process edge builds Settings from the environment there."""
    settings = Settings()
    return create_proxy_app(settings, aioredis.Redis.from_url(require_redis(settings)))


def serve_python(settings: Settings, *, workers: int = 1,
                 sock: socket.socket | None = None) -> None:
    """The Python proxy on settings.proxy_host:public_port, or on ``sock`` (one worker)."""
    options = uvicorn_options(settings)
    if sock is not None:
        app = create_proxy_app(settings, aioredis.Redis.from_url(require_redis(settings)))
        server = uvicorn.Server(uvicorn.Config(app, **options))  # type: ignore[arg-type]
        server.run(sockets=[sock])
        return
    address = dict(host=settings.proxy_host, port=settings.public_port)
    if workers > 1:
        uvicorn.run("podium.proxy.plane.python:factory", factory=True, workers=workers,
                    **address, **options)  # type: ignore[arg-type]
        return
    app = create_proxy_app(settings, aioredis.Redis.from_url(require_redis(settings)))
    uvicorn.run(app, **address, **options)  # type: ignore[arg-type]


class PythonPlane(DataPlane):
    name = "python"

    def serve(self, *, workers: int = 1) -> None:
        if self.settings.tls:
            # TLS ends at nginx only: this plane is for development and tests, and serving
            # https from uvicorn would be a second, untested TLS setup.
            raise SettingsError(
                "the python data plane does not serve HTTPS", setting=env_name("tls_cert"),
                hint="use PODIUM_PROXY_DATA_PLANE=nginx-lua, or unset PODIUM_TLS_CERT and "
                     "PODIUM_TLS_KEY")
        serve_python(self.settings, workers=workers)
