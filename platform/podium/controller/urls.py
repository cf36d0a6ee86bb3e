"""Where a Space is reached, derived in one place from Settings and its SpaceId."""

from __future__ import annotations

from podium.config import Settings
from podium.names import SpaceId


def space_urls(settings: Settings, space_id: SpaceId) -> dict[str, str]:
    """Where a Space is reached: its own host, its path on the main domain, its git remote
    and its dashboard page."""
    base = settings.public_base_url
    port = base.removeprefix(f"{settings.scheme}://{settings.domain}")
    return {
        "host": f"{settings.scheme}://{space_id.hostname(settings.domain)}{port}/",
        "url": f"{base}/spaces/{space_id}/",
        "git_url": f"{base}/spaces/{space_id}.git",
        "page": f"/{space_id}",
    }
