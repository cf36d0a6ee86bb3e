"""A proxy data plane: what listens on the public port. Chosen by name from
``Settings.proxy_data_plane``; every plane routes from the same Redis route table."""

from __future__ import annotations

from podium.config import Settings
from podium.errors import BadRequest, ServiceUnavailable


class DataPlane:
    name = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def serve(self, *, workers: int = 1) -> None:
        """Serve on settings.proxy_host:settings.public_port until SIGTERM / Ctrl-C."""
        raise NotImplementedError


def plane_for(settings: Settings) -> DataPlane:
    from podium.proxy.plane.nginx import NginxLuaPlane, NginxPlane
    from podium.proxy.plane.python import PythonPlane

    planes: dict[str, type[DataPlane]] = {
        p.name: p for p in (NginxPlane, NginxLuaPlane, PythonPlane)}
    try:
        return planes[settings.proxy_data_plane](settings)
    except KeyError:
        raise BadRequest(
            f"unknown proxy data plane {settings.proxy_data_plane!r}",
            hint=f"set PODIUM_PROXY_DATA_PLANE to one of: {', '.join(sorted(planes))}",
        ) from None


def require_redis(settings: Settings) -> str:
    if not settings.redis_url:
        raise ServiceUnavailable(
            "the proxy needs the route table's Redis",
            hint="set PODIUM_REDIS_URL (podium up sets it for the processes it starts)",
        )
    return settings.redis_url
