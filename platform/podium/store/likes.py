"""Likes: one per user and Space, toggled. ``Space.likes`` (what galleries sort by and the
Hub API's ``likes`` reports) is recounted from the rows in the same transaction, so a
repeated or concurrent like never counts twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Like, Space, User


def _recount(session: Session, space: Space) -> int:
    count = select(func.count()).select_from(Like).where(Like.space_id == space.id)
    # A plain UPDATE: a like is not a change of the Space (updated_at stays).
    session.execute(update(Space).where(Space.id == space.id)
                    .values(likes=count.scalar_subquery()))
    likes = int(session.scalar(select(Space.likes).where(Space.id == space.id)) or 0)
    space.likes = likes
    return likes


def set_like(session: Session, user: User, space: Space, liked: bool) -> int:
    """Like (or unlike) ``space`` as ``user``; idempotent. Returns the Space's count."""
    if liked:
        try:
            with session.begin_nested():
                session.execute(insert(Like).values(user_id=user.id, space_id=space.id))
        except IntegrityError:
            pass  # already liked (maybe by a concurrent request): still one
    else:
        session.execute(delete(Like).where(Like.user_id == user.id,
                                           Like.space_id == space.id))
    return _recount(session, space)


def likes_of(session: Session, user_id: int, space_id: int) -> bool:
    """Whether the user liked the Space (by their ids)."""
    return session.get(Like, (user_id, space_id)) is not None


def liked_spaces(session: Session, user: User) -> list[tuple[Space, datetime]]:
    """The Spaces ``user`` liked, newest like first (the caller filters what it may see)."""
    rows = session.execute(
        select(Space, Like.created_at).join(Like, Like.space_id == Space.id)
        .where(Like.user_id == user.id).order_by(Like.created_at.desc()))
    return [(space, at) for space, at in rows]


def likers(session: Session, space: Space) -> list[User]:
    """Who liked ``space``, oldest like first."""
    return list(session.scalars(
        select(User).join(Like, Like.user_id == User.id).where(Like.space_id == space.id)
        .order_by(Like.created_at)))
