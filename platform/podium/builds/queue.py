"""Putting builds on the rq queue: coalescing, superseding and the build limit.

- The rq job id is derived from (Space, commit, factory), so asking twice for one commit
  while its build is queued or running returns that build instead of starting another.
- A newer commit supersedes the Space's queued (not started) build: its rq job is cancelled
  and its record marked SUPERSEDED. A build already running is left to finish; the job
  deploys only the Space's latest build, so it can never overwrite a newer one.
- At most ``settings.max_concurrent_builds`` builds run at once, however many workers there
  are: every job carries an rq ``RateLimit`` keyed by the queue, so surplus jobs wait in
  Redis (status ``rate_limited``) without holding a worker, and a slot held by a dead worker
  is freed by rq's abandoned-job cleanup. Workers on several hosts share the queue (README
  "Run on a cluster"), so the limit is the total across them; the rules above live in
  Redis and the database, so they hold whichever worker takes which build
  (tests/cluster/test_workers.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.rate_limit import RateLimit, release_slot
from rq.registry import StartedJobRegistry

from podium.config import Settings
from podium.keys import builds as keys
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Stage

from . import lease
from .logs import write_terminal
from .placeholder import show_unrun
from .records import building_stage, fail_build, load_space

JOB_FUNC = "podium.builds.job.build_job"
# The job's own limit is settings.build_timeout (enforced by the builder); rq's is a
# backstop a little above it for a job that stops answering.
JOB_TIMEOUT_MARGIN = 300
# Keys marking who claimed a build outlive any build by far.
CLAIM_TTL = 7 * 24 * 3600
PENDING = {
    JobStatus.CREATED, JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED,
    JobStatus.SCHEDULED, JobStatus.RATE_LIMITED, JobStatus.READY_TO_ENQUEUE,
}
# Builds looked at for superseding: every push supersedes, so at most one waits at a time.
SUPERSEDE_SCAN = 10
WORKER_DIED = "the build worker died while building (killed or out of memory); push again"


@dataclass(frozen=True, slots=True)
class BuildRef:
    build_id: str
    job_id: str
    commit: str
    # True when the request joined a build already queued or running for this commit.
    attached: bool = False


def build_job_id(space_id: SpaceId, commit: str, factory: bool = False) -> str:
    # The readable part may collide for distinct Spaces (the subdomain slug is lossy); the
    # digest of the exact key cannot.
    digest = hashlib.sha256(f"{space_id.key}\0{commit}\0{int(factory)}".encode()).hexdigest()
    return f"build-{space_id.subdomain[:40].strip('-')}-{digest[:24]}"


def build_queue(settings: Settings, conn: redis.Redis) -> Queue:
    return Queue(settings.queue_name, connection=conn)


def enqueue_build(
    settings: Settings, conn: redis.Redis, db: Any, space_id: SpaceId, commit: str, *,
    factory: bool = False,
) -> BuildRef:
    """Queue a build of ``commit`` (or join the one already queued/running for it)."""
    from podium.store import builds as store_builds
    from podium.store import spaces as store_spaces

    queue = build_queue(settings, conn)
    job_id = build_job_id(space_id, commit, factory)
    with conn.lock(keys.space_lock(space_id), timeout=60, blocking_timeout=60):
        pending = _pending_build(settings, conn, db, queue, space_id, job_id)
        if pending is not None:
            return BuildRef(pending, job_id, commit, attached=True)
        with db.session() as session:
            space = load_space(session, space_id)
            _supersede_queued(conn, queue, session, space, commit)
            build = store_builds.create_build(
                session, space, commit, factory=factory, job_id=job_id
            )
            build_id = str(build.id)
            store_spaces.set_stage(
                session, space, building_stage(space), f"build of {commit[:12]} queued"
            )
            show_unrun(conn, space, Stage.BUILDING)  # the live URL says "building"
        stale = queue.fetch_job(job_id)
        if stale is not None:  # an ended build of this commit: the id is reused
            stale.delete()
        try:
            queue.enqueue(
                JOB_FUNC, str(space_id), build_id, commit, factory,
                job_id=job_id, meta={"build_id": build_id, "space": str(space_id)},
                job_timeout=settings.build_timeout + JOB_TIMEOUT_MARGIN,
                result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600,
                rate_limit=RateLimit(
                    keys.rate_limit(settings.queue_name), max(1, settings.max_concurrent_builds)
                ),
                description=f"build {space_id}@{commit[:12]}" + (" (factory)" if factory else ""),
            )
        except redis.RedisError as exc:
            fail_build(db, conn, space_id, build_id, f"could not queue the build: {exc}")
            raise
    return BuildRef(build_id, job_id, commit)


def _pending_build(
    settings: Settings, conn: redis.Redis, db: Any, queue: Queue, space_id: SpaceId, job_id: str
) -> str | None:
    """The build id of a live build behind ``job_id``, or None."""
    from podium.store import builds as store_builds

    job = queue.fetch_job(job_id)
    if job is None or job.get_status(refresh=False) not in PENDING:
        return None
    build_id = str(job.meta.get("build_id", ""))
    with db.session() as session:
        build = store_builds.find_build(session, build_id) if build_id else None
        status = BuildStatus(build.status) if build is not None else None
    if status is None or status.is_final:
        return None
    if status == BuildStatus.BUILDING and not lease.is_alive(conn, build_id):
        # rq still says "started" but the worker is gone: fail it now rather than
        # attaching the caller to a build that will never end.
        fail_build(db, conn, space_id, build_id, WORKER_DIED)
        lease.release(conn, build_id)
        free_dead_job(queue, job_id)
        return None
    return build_id


def free_dead_job(queue: Queue, job_id: str) -> None:
    """Fail the rq job of a build whose worker died and free its build slot now, promoting
    the next waiting build. rq frees it by itself only once the job's execution heartbeat
    runs out (job_monitoring_interval + 60 s) and an idle worker next runs maintenance
    (its dequeue blocks for up to worker_ttl - 15 s): ~7 minutes in QUEUED (issue item 13).
    Only for a build whose lease is gone: the lease, not rq, says the worker died."""
    job = queue.fetch_job(job_id)
    if job is None or job.get_status() != JobStatus.STARTED:
        return
    registry = StartedJobRegistry(queue.name, connection=queue.connection)
    with queue.connection.pipeline() as pipe:
        registry.remove_executions(job, pipeline=pipe)
        record_job_failure(job, WORKER_DIED, pipe)
        pipe.execute()
    release_slot(job)


def _supersede_queued(
    conn: redis.Redis, queue: Queue, session: Any, space: Any, commit: str
) -> None:
    """Supersede the Space's builds still waiting to start."""
    from podium.store import builds as store_builds

    reason = f"superseded by a newer commit {commit[:12]}"
    for build in store_builds.list_builds(session, space, limit=SUPERSEDE_SCAN):
        if BuildStatus(build.status) != BuildStatus.QUEUED:
            continue
        build_id = str(build.id)
        # Whoever sets the claim first wins: this push, or the job starting on a worker.
        # The record alone cannot arbitrate: the job may have read it as QUEUED already.
        if not conn.set(keys.claim(build_id), "superseded", nx=True, ex=CLAIM_TTL):
            continue
        if build.job_id:
            _cancel_job(queue, build.job_id)
        store_builds.mark_finished(session, build, BuildStatus.SUPERSEDED, failure_reason=reason)
        write_terminal(conn, build_id, BuildStatus.SUPERSEDED, reason)


def _cancel_job(queue: Queue, job_id: str) -> None:
    job = queue.fetch_job(job_id)
    if job is None:
        return
    try:
        job.cancel()
    except InvalidJobOperation:
        pass  # already cancelled, or ended: the claim makes the job a no-op anyway


def fetch_job(settings: Settings, conn: redis.Redis, job_id: str) -> Job | None:
    return build_queue(settings, conn).fetch_job(job_id)
