"""Running the proxy as its own process (``podium proxy`` / ``python -m podium.proxy``): the
data plane Settings.proxy_data_plane names."""

from __future__ import annotations

from podium.config import Settings
from podium.errors import BadRequest
from podium.proxy.plane.base import DataPlane
from podium.proxy.plane.nginx import NginxPlane
from podium.proxy.plane.python import PythonPlane

PLANES: dict[str, type[DataPlane]] = {p.name: p for p in (NginxPlane, PythonPlane)}


def plane_for(settings: Settings) -> DataPlane:
    try:
        return PLANES[settings.proxy_data_plane](settings)
    except KeyError:
        raise BadRequest(
            f"unknown proxy data plane {settings.proxy_data_plane!r}",
            hint=f"set PODIUM_PROXY_DATA_PLANE to one of: {', '.join(sorted(PLANES))}",
        ) from None


def serve(settings: Settings, *, workers: int = 1) -> None:
    """Serve on settings.proxy_host:settings.public_port until interrupted, with the data
    plane settings.proxy_data_plane names."""
    plane_for(settings).serve(workers=workers)
