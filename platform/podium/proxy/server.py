"""Running the proxy as its own process (``podium proxy`` / ``python -m podium.proxy``)."""

from __future__ import annotations

from podium.config import Settings
from podium.proxy.plane.base import plane_for


def serve(settings: Settings, *, workers: int = 1) -> None:
    """Serve on settings.proxy_host:settings.public_port until interrupted, with the data
    plane settings.proxy_data_plane names."""
    plane_for(settings).serve(workers=workers)
