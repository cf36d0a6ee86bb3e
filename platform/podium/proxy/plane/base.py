"""A proxy data plane: what listens on the public port. Chosen by name from
``Settings.proxy_data_plane`` (podium.proxy.server); every plane routes from the same Redis
route table."""

from __future__ import annotations

from podium.config import Settings
from podium.errors import ServiceUnavailable


class DataPlane:
    name = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def serve(self, *, workers: int = 1) -> None:
        """Serve on settings.proxy_host:settings.public_port until SIGTERM / Ctrl-C."""
        raise NotImplementedError


def require_redis(settings: Settings) -> str:
    if not settings.redis_url:
        raise ServiceUnavailable(
            "the proxy needs the route table's Redis",
            hint="set PODIUM_REDIS_URL (podium up sets it for the processes it starts)",
        )
    return settings.redis_url
