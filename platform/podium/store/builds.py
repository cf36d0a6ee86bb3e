"""Build records: one row per queued build, from QUEUED to a final status with its log."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from podium.errors import BadRequest, NotFound
from podium.spaces.stage import BuildStatus

from .models import Build, Space, utcnow, without_nul

# A runaway build can print gigabytes; the stored log keeps its end, where the error is.
MAX_STORED_LOG_CHARS = 1_000_000


def _clip_log(log: str | None) -> str | None:
    log = without_nul(log)
    if log is None or len(log) <= MAX_STORED_LOG_CHARS:
        return log
    dropped = len(log) - MAX_STORED_LOG_CHARS
    tail = log[-MAX_STORED_LOG_CHARS:]
    # Start at a line boundary so the first stored line is whole.
    newline = tail.find("\n")
    if 0 <= newline < 1000:
        dropped += newline + 1
        tail = tail[newline + 1:]
    return f"[{dropped} earlier characters of the log were dropped]\n{tail}"


def create_build(
    session: Session, space: Space, commit: str, *, factory: bool = False,
    job_id: str | None = None,
) -> Build:
    build = Build(
        id=uuid.uuid4().hex, space_id=space.id, commit=commit, status=BuildStatus.QUEUED,
        factory=factory, job_id=job_id, queued_at=utcnow(),
    )
    session.add(build)
    session.flush()
    return build


def find_build(session: Session, build_id: str) -> Build | None:
    return session.get(Build, build_id)


def get_build(session: Session, build_id: str) -> Build:
    build = find_build(session, build_id)
    if build is None:
        raise NotFound(f"build {build_id} not found")
    return build


def latest_build(session: Session, space: Space) -> Build | None:
    return session.scalar(
        select(Build).where(Build.space_id == space.id)
        .order_by(Build.queued_at.desc(), Build.id.desc()).limit(1)
    )


def list_builds(session: Session, space: Space, limit: int = 20) -> list[Build]:
    """Most recent first."""
    return list(session.scalars(
        select(Build).where(Build.space_id == space.id)
        .order_by(Build.queued_at.desc(), Build.id.desc()).limit(max(limit, 0))
    ))


def mark_started(session: Session, build: Build) -> Build:
    if BuildStatus(build.status).is_final:
        raise BadRequest(f"build {build.id} already ended ({build.status})")
    build.status = BuildStatus.BUILDING
    build.started_at = utcnow()
    session.flush()
    return build


def mark_finished(
    session: Session, build: Build, status: BuildStatus | str, *, image: str | None = None,
    failure_reason: str | None = None, log: str | None = None,
) -> Build:
    status = BuildStatus(status)
    if not status.is_final:
        raise BadRequest(f"{status} is not a final build status")
    build.status = status
    build.finished_at = utcnow()
    # A build cancelled while queued never started: its duration is its time in the queue.
    build.duration_s = (build.finished_at - (build.started_at or build.queued_at)).total_seconds()
    if image is not None:
        build.image = image
    if failure_reason is not None:
        build.failure_reason = without_nul(failure_reason)
    if log is not None:
        build.log = _clip_log(log)
    session.flush()
    return build

