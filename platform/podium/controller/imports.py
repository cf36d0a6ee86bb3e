"""Imports of a Space from a git URL, run off the request path.

The clone talks to a server the user chose, which may accept and never answer: run inside
the request it held one of the API's worker threads per import, and 40 of them took
health checks, the dashboard and git down with it. The POST now creates the Space in
BUILDING ("importing from ...") and returns; a small pool in the API process (at most
``import_concurrency`` clones, each bounded by podium.gitserver.importer) does the clone
and queues the first build. A failure is recorded where a build failure is: a FAILED build
whose log says why, and the Space in BUILD_ERROR with the reason beside it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from podium.errors import PodiumError, TooManyRequests
from podium.names import SpaceId
from podium.spaces.stage import BuildPhase, Stage
from podium.store import builds as store_builds
from podium.store import find_space, list_builds, set_stage

from .platform import Platform
from .push import first_build

log = logging.getLogger(__name__)

IMPORTING = "importing from "
INTERRUPTED = ("the import was interrupted by a restart of the API; delete this Space and "
               "import it again")


def display_url(url: str) -> str:
    """The URL without credentials, for logs and messages others may read."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def start_import(platform: Platform, space_id: SpaceId, url: str, author: str) -> None:
    """Queue the clone of ``url`` into the (new, empty) Space and return at once.

    One owner may have ``import_per_owner`` imports queued or running: past that, 429, so
    one user's hanging sources cannot hold the pool (and everyone's imports) for long."""
    owner = space_id.owner
    with platform.imports_lock:
        if platform.imports_in_flight[owner] >= platform.settings.import_per_owner:
            raise TooManyRequests(
                f"{owner} already has {platform.imports_in_flight[owner]} imports running",
                retry_after=int(platform.settings.import_timeout),
                hint="wait for them to end (their Spaces leave BUILDING)")
        platform.imports_in_flight[owner] += 1
    try:
        with platform.db.session() as session:
            space = find_space(session, space_id)
            if space is not None:
                set_stage(session, space, Stage.BUILDING, IMPORTING + display_url(url))
        platform.import_pool.submit(_run_counted, platform, space_id, url, author)
    except BaseException:
        _release(platform, owner)
        raise


def _release(platform: Platform, owner: str) -> None:
    with platform.imports_lock:
        if platform.imports_in_flight[owner] > 0:
            platform.imports_in_flight[owner] -= 1


def _run_counted(platform: Platform, space_id: SpaceId, url: str, author: str) -> None:
    try:
        run_import(platform, space_id, url, author)
    finally:
        _release(platform, space_id.owner)


def run_import(platform: Platform, space_id: SpaceId, url: str, author: str) -> None:
    """The job: clone, then what a push does. Never raises (it runs in a pool)."""
    from podium.gitserver.importer import import_from_url

    try:
        commit = import_from_url(platform.settings, space_id, url)
        if _exists(platform, space_id):  # deleted while cloning: nothing to build
            first_build(platform, space_id, commit, author)
    except PodiumError as exc:
        reason = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        record_failure(platform, space_id, url, f"import failed: {reason}")
    except Exception as exc:  # noqa: BLE001 - recorded for the user, traceback for operators
        log.exception("import of %s into %s failed", display_url(url), space_id)
        record_failure(platform, space_id, url, f"import failed: internal error: "
                       f"{type(exc).__name__}")


def _exists(platform: Platform, space_id: SpaceId) -> bool:
    with platform.db.session() as session:
        return find_space(session, space_id) is not None


def record_failure(platform: Platform, space_id: SpaceId, url: str, reason: str) -> None:
    """A FAILED build (no commit) whose log tells the import's story, and BUILD_ERROR."""
    from podium.builds.records import fail_build

    with platform.db.session() as session:
        space = find_space(session, space_id)
        if space is None:
            return  # deleted meanwhile
        build_id = store_builds.create_build(session, space, commit="").id
    lines = [f"[{BuildPhase.CLONE.value}] Importing {display_url(url)}"] if url else []
    text = "\n".join([*lines, f"[{BuildPhase.EXPORT.value}] {reason}", ""])
    fail_build(platform.db, platform.redis, space_id, build_id, reason, log=text)


def fail_interrupted(platform: Platform) -> int:
    """At API start: imports the previous process was running are gone with it; say so on
    their Spaces instead of leaving them BUILDING forever. Returns how many."""
    from sqlalchemy import select

    from podium.store.models import Space

    with platform.db.session() as session:
        stuck = [SpaceId(s.owner, s.name) for s in session.scalars(
            select(Space).where(Space.stage == Stage.BUILDING,
                                Space.stage_message.startswith(IMPORTING)))
            if not list_builds(session, s, limit=1)]
    for space_id in stuck:
        record_failure(platform, space_id, "", INTERRUPTED)
    return len(stuck)
