"""Where a Space is reached, derived in one place from Settings and its SpaceId: the API's
SpaceOut, the dashboard's pages, push messages and share links all read it here."""

from __future__ import annotations

from dataclasses import dataclass

from podium.config import Settings
from podium.names import SpaceId


@dataclass(frozen=True, slots=True)
class SpaceUrls:
    host: str  # the app, on its own origin only: http://owner-name.domain:port/
    git: str  # the git remote
    page: str  # the dashboard page, relative
    page_abs: str  # the dashboard page, absolute (og:url)
    api: str  # relative /api/spaces/owner/name

    @classmethod
    def of(cls, settings: Settings, space_id: SpaceId) -> SpaceUrls:
        base = settings.public_base_url
        page = f"/{space_id}"
        return cls(
            host=settings.space_origin(space_id) + "/",
            git=f"{base}/spaces/{space_id}.git",
            page=page, page_abs=base + page, api=f"/api/spaces/{space_id}",
        )


def space_urls(settings: Settings, space_id: SpaceId) -> dict[str, str]:
    """The API's URL fields of a Space: its own host (``url`` too: its path URL on the main
    domain only redirects there, so Space code never runs on the dashboard's origin), its
    git remote and its dashboard page."""
    urls = SpaceUrls.of(settings, space_id)
    return {"host": urls.host, "url": urls.host, "git_url": urls.git, "page": urls.page}
