"""Counts over the store for the metrics exporter (podium.metrics.exporter): one grouped
query each, read at scrape time."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from podium.spaces.stage import BuildStatus, Stage

from .models import Build, Space


def spaces_by_stage(session: Session) -> dict[Stage, int]:
    """Every stage, with 0 for those no Space is in (a series that disappears reads as
    missing data, not as zero)."""
    counts = {stage: 0 for stage in Stage}
    for stage, count in session.execute(select(Space.stage, func.count()).group_by(Space.stage)):
        counts[Stage(stage)] = count
    return counts


def builds_by_status(session: Session, statuses: tuple[BuildStatus, ...]) -> dict[BuildStatus, int]:
    counts = {status: 0 for status in statuses}
    query = (select(Build.status, func.count()).where(Build.status.in_(statuses))
             .group_by(Build.status))
    for status, count in session.execute(query):
        counts[BuildStatus(status)] = count
    return counts
