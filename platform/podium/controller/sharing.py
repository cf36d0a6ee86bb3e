"""Opening private Spaces: share links (a secret URL, optionally expiring or limited in
views) and the owner's own "open" button. Both end in a short grant signed for the proxy
(podium.grants), which its ``/__podium/grant`` endpoint turns into a cookie."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from podium.grants import SHARE_SUBJECT, GrantSigner
from podium.names import SpaceId
from podium.store import (
    create_share_link,
    get_space,
    revoke_share_link,
    use_share_link,
    utcnow,
)
from podium.store.models import ShareLink, Space

from .access import Principal
from .platform import Platform
from .urls import space_urls

# A grant outlives the visit only long enough to use the Space for a while; revoking a link
# stops new visits at once, and running grants within this time.
GRANT_TTL_S = 8 * 3600
# The owner's (a member's) "open" mints a fresh grant per view of the dashboard's frame:
# short, since nothing revokes it before it expires; the cookie it becomes lasts as long.
OPEN_GRANT_TTL_S = 3600


def _signer(platform: Platform) -> GrantSigner:
    # The proxy reads the same key (settings.secret_key, else data_dir/secret.key); touching
    # the cipher creates that file first, so both processes sign with one key.
    platform.cipher  # noqa: B018
    return GrantSigner.from_settings(platform.settings)


def _grant_url(platform: Platform, space_id: SpaceId, subject: str, ttl: float) -> str:
    """The grant endpoint on the Space's own host: the only origin its code runs on, which
    never sees the dashboard's session cookie (podium.proxy.routing)."""
    token = _signer(platform).issue(space_id.key, subject, ttl)
    base = space_urls(platform.settings, space_id)["host"]
    return f"{base}__podium/grant?token={quote(token)}"


def share_url(platform: Platform, space_id: SpaceId, token: str) -> str:
    return f"{platform.settings.public_base_url}/share/{space_id}/{token}"


def create_link(
    platform: Platform, space_id: SpaceId, created_by: str, *,
    expires_in_s: int | None = None, max_views: int | None = None,
) -> tuple[str, ShareLink]:
    """A new share link; its URL is returned once and only a hash of it is kept."""
    expires_at = utcnow() + timedelta(seconds=expires_in_s) if expires_in_s else None
    with platform.db.session() as session:
        space = get_space(session, space_id)
        token, link = create_share_link(session, space, created_by=created_by,
                                        expires_at=expires_at, max_views=max_views)
    return share_url(platform, space_id, token), link


def visit(platform: Platform, space_id: SpaceId, token: str) -> str:
    """Count a view of a share link (Forbidden when revoked, expired or used up) and return
    where to send the browser: through the proxy's grant endpoint to the Space."""
    with platform.db.session() as session:
        space = get_space(session, space_id)
        link = use_share_link(session, space, token)
        ttl = float(GRANT_TTL_S)
        if link.expires_at is not None:
            ttl = min(ttl, (link.expires_at - utcnow()).total_seconds())
        prefix = link.prefix
    return _grant_url(platform, space_id, f"{SHARE_SUBJECT}{prefix}", max(ttl, 1.0))


def revoke_link(platform: Platform, space_id: SpaceId, link_id: int) -> None:
    """Stop new visits (the store) and visitors already let in (a marker the proxy checks
    for share grants), at once."""
    with platform.db.session() as session:
        link = revoke_share_link(session, get_space(session, space_id), link_id)
        subject = f"{SHARE_SUBJECT}{link.prefix}"
    platform.routes.revoke_grants(space_id.key, subject, GRANT_TTL_S)


def open_url(platform: Platform, principal: Principal | None, space: Space) -> str:
    """The Space's URL for someone allowed to read it: through a grant when it is private."""
    space_id = space.space_id
    if not space.private or principal is None:
        return space_urls(platform.settings, space_id)["url"]
    return _grant_url(platform, space_id, principal.username, OPEN_GRANT_TTL_S)
