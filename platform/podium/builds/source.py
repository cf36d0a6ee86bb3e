"""Where a build's files come from: the Space's repository in this host's data dir (a worker
on the platform host), or, with ``Settings.build_source_url``, the platform's git server
over smart HTTP with a one-build read ticket (a worker on any other host: README "Run on a
cluster"). Either way the build gets a plain tree, LFS objects in place, and no ``.git``."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import redis
from rq import get_current_job

from podium.config import Settings
from podium.names import SpaceId
from podium.spaces.stage import BuildPhase


def export_source(
    settings: Settings, conn: redis.Redis, space_id: SpaceId, commit: str, tmp: Path,
    log: Callable[[BuildPhase, str], None],
) -> tuple[Path, str]:
    """The checkout of ``commit`` under ``tmp`` and its full sha."""
    from podium.gitserver.remote import fetch_commit
    from podium.gitserver.repo import export_commit
    from podium.gitserver.tickets import FetchTickets

    source = tmp / "src"
    log(BuildPhase.CLONE, f"Building {space_id} on {worker_label()}")
    if not settings.build_source_url:
        log(BuildPhase.CLONE, f"Exporting {space_id} at commit {commit[:12]}")
        return source, export_commit(settings, space_id, commit, source)
    log(BuildPhase.CLONE, f"Fetching {space_id} at commit {commit[:12]} "
                          f"from {settings.build_source_url}")
    tickets = FetchTickets(conn)
    ticket = tickets.issue(space_id)
    try:
        work = tmp / "fetch"
        work.mkdir()
        return source, fetch_commit(settings.build_source_url, space_id, commit, ticket,
                                    source, work)
    finally:
        tickets.revoke(ticket)  # it served this one fetch


def worker_label() -> str:
    """Which worker runs this build, for its log: the rq worker's name and this host's."""
    job = get_current_job()
    name = job.worker_name if job is not None and job.worker_name else f"pid {os.getpid()}"
    return f"worker {name} (host {socket.gethostname()})"
