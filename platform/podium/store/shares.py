"""Share links: a secret URL token that opens a private Space, optionally expiring or limited
to a number of views. Only the token's sha256 is stored."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from podium.errors import BadRequest, Forbidden, NotFound

from .models import ShareLink, Space, utcnow
from .users import hash_token

SHARE_PREFIX = "shr_"
DISPLAY_PREFIX_LEN = 8


def create_share_link(
    session: Session, space: Space, *, created_by: str, expires_at: datetime | None = None,
    max_views: int | None = None,
) -> tuple[str, ShareLink]:
    """A new link; the plaintext token is returned once."""
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise BadRequest("expires_at must carry a timezone")
        if expires_at <= utcnow():
            raise BadRequest("expires_at is in the past")
    if max_views is not None and max_views < 1:
        raise BadRequest("max_views must be at least 1")
    plaintext = SHARE_PREFIX + secrets.token_urlsafe(32)
    link = ShareLink(
        space_id=space.id, token_hash=hash_token(plaintext),
        prefix=plaintext[:DISPLAY_PREFIX_LEN], created_by=created_by, expires_at=expires_at,
        max_views=max_views, views=0,
    )
    session.add(link)
    session.flush()
    return plaintext, link


def _refusal(link: ShareLink | None, now: datetime) -> Forbidden | None:
    if link is None:
        return Forbidden("this share link is not valid for this Space")
    if link.revoked_at is not None:
        return Forbidden("this share link was revoked", hint="ask the owner for a new link")
    if link.expires_at is not None and link.expires_at <= now:
        return Forbidden("this share link has expired", hint="ask the owner for a new link")
    if link.max_views is not None and link.views >= link.max_views:
        return Forbidden(
            "this share link has been used its maximum number of times",
            hint="ask the owner for a new link",
        )
    return None


def use_share_link(session: Session, space: Space, token: str) -> ShareLink:
    """Check the link and count one view, or raise Forbidden saying why."""
    if not isinstance(token, str) or not token.startswith(SHARE_PREFIX):
        raise Forbidden("this share link is not valid for this Space")
    link = session.scalar(select(ShareLink).where(
        ShareLink.space_id == space.id, ShareLink.token_hash == hash_token(token)
    ))
    now = utcnow()
    refusal = _refusal(link, now)
    if refusal is not None:
        raise refusal
    assert link is not None
    # The conditions are repeated in the UPDATE so two viewers racing for the last view of
    # a limited link cannot both get in: the database decides, one row at a time.
    counted = session.execute(
        update(ShareLink)
        .where(
            ShareLink.id == link.id, ShareLink.revoked_at.is_(None),
            or_(ShareLink.expires_at.is_(None), ShareLink.expires_at > now),
            or_(ShareLink.max_views.is_(None), ShareLink.views < ShareLink.max_views),
        )
        .values(views=ShareLink.views + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(link)
    if not counted.rowcount:  # type: ignore[attr-defined]
        raise _refusal(link, now) or Forbidden("this share link is no longer valid")
    return link


def list_share_links(
    session: Session, space: Space, *, include_revoked: bool = False
) -> list[ShareLink]:
    query = select(ShareLink).where(ShareLink.space_id == space.id)
    if not include_revoked:
        query = query.where(ShareLink.revoked_at.is_(None))
    return list(session.scalars(query.order_by(ShareLink.created_at.desc(), ShareLink.id.desc())))


def revoke_share_link(session: Session, space: Space, link_id: int) -> ShareLink:
    link = session.get(ShareLink, link_id)
    if link is None or link.space_id != space.id:
        raise NotFound(f"share link {link_id} not found")
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        session.flush()
    return link
