"""Where a Space is reached, derived in one place from Settings and its SpaceId."""

from __future__ import annotations

from podium.config import Settings
from podium.names import SpaceId
from podium.routes import space_origin


def space_urls(settings: Settings, space_id: SpaceId) -> dict[str, str]:
    """Where a Space is reached: its own host (``url`` too: its path URL on the main domain
    only redirects there, so Space code never runs on the dashboard's origin), its git
    remote and its dashboard page."""
    base = settings.public_base_url
    host = space_origin(settings, space_id) + "/"
    return {
        "host": host,
        "url": host,
        "git_url": f"{base}/spaces/{space_id}.git",
        "page": f"/{space_id}",
    }
