"""The deployer: runs, in the scheduler process, the deploy requests finished builds leave
(``podium.builds.deploys``), through ``Settings.deploy_handler``.

The build worker's job ends once the image is built, so a build slot is never held while a
container starts; the scheduler loop calls ``Deployer.run`` in a thread per Space (no
bounded pool: a deploy waiting for an app that never answers must not delay the others),
at most one deploy per Space (also across processes: the Space's deploy lock).
``process_pending_deploys`` does the same synchronously, for a process that runs no
scheduler loop (tests, scripts).

A request is dropped unrun when its build is no longer the Space's latest or the Space is
gone; otherwise it is forgotten only after the handler returned (or raised), so a scheduler
killed mid-deploy leaves it for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import redis

from podium.builds.deploys import DeployRequest, DeployRequests
from podium.builds.records import is_latest, is_serving
from podium.config import Settings
from podium.keys import builds as keys
from podium.locks import LEASE_S, renewed
from podium.names import SpaceId
from podium.plugins import load_callable
from podium.spaces.stage import BuildStatus, Stage
from podium.store import find_space, set_stage
from podium.store.builds import find_build

log = logging.getLogger(__name__)

DeployHandler = Callable[[Settings, SpaceId, str, str, int, str, str], None]


class Outcome(StrEnum):
    DEPLOYED = "deployed"  # the handler ran; it recorded RUNNING or RUNTIME_ERROR itself
    FAILED = "failed"  # the handler raised; recorded here
    STALE = "stale"  # a newer build exists, or the Space is gone: dropped unrun
    BUSY = "busy"  # another deployer is deploying this Space; the request stays
    WAITING = "waiting"  # its build is not recorded as succeeded yet; the request stays
    NOTHING = "nothing"  # no request (already run)


def load_deploy_handler(dotted: str) -> DeployHandler:
    return load_callable(dotted, "deploy_handler")


class Deployer:
    def __init__(self, settings: Settings, conn: redis.Redis, db: Any) -> None:
        self.settings = settings
        self.conn = conn
        self.db = db
        self.requests = DeployRequests(conn)

    def pending(self) -> list[str]:
        """Space keys with a deploy request waiting, oldest first."""
        return self.requests.pending()

    def run(self, space_key: str) -> Outcome:
        """Deploy the Space's waiting request, if any and still wanted."""
        space_id = SpaceId.parse(space_key)
        lock = self.conn.lock(
            keys.deploy_lock(space_id), timeout=LEASE_S, blocking=False, thread_local=False,
        )
        with renewed(lock) as got:
            if not got:
                return Outcome.BUSY
            request = self.requests.get(space_key)
            if request is None:
                return Outcome.NOTHING
            verdict = self._verdict(space_id, request)
            if verdict is Outcome.STALE:
                self.requests.done(request)
            if verdict is not None:
                return verdict
            outcome = self._call_handler(space_id, request)
            self.requests.done(request)
            return outcome

    def _verdict(self, space_id: SpaceId, request: DeployRequest) -> Outcome | None:
        """None when the request is to be deployed now; else why not (STALE: drop it)."""
        with self.db.session() as session:
            space = find_space(session, space_id)
            if space is None:
                log.info("dropping the deploy of %s: the Space is gone", space_id)
                return Outcome.STALE
            if not is_latest(session, space, request.build_id):
                log.info("dropping the deploy of %s build %s: a newer build exists",
                         space_id, request.build_id)
                return Outcome.STALE
            build = find_build(session, request.build_id)
            status = BuildStatus(build.status) if build is not None else BuildStatus.FAILED
        # The job leaves its request before it records the build's success (so a worker
        # dying in between cannot leave a built Space that never starts): until then, wait;
        # if the reaper fails the build instead, drop it.
        if status is BuildStatus.SUCCEEDED:
            return None
        if status.is_final:
            log.info("dropping the deploy of %s build %s: the build ended %s", space_id,
                     request.build_id, status)
            return Outcome.STALE
        return Outcome.WAITING

    def _call_handler(self, space_id: SpaceId, request: DeployRequest) -> Outcome:
        try:
            if not self.settings.deploy_handler:
                raise RuntimeError("the scheduler has no deploy handler configured")
            handler = load_deploy_handler(self.settings.deploy_handler)
            handler(
                self.settings, space_id, request.build_id, request.image, request.app_port,
                request.sdk, request.commit,
            )
        except Exception as exc:
            # Not retried: a handler that raised once (bad config, engine gone) would keep
            # raising; the user sees why and pushes or restarts.
            log.exception("deploy handler failed for %s build %s", space_id, request.build_id)
            with self.db.session() as session:
                space = find_space(session, space_id)
                if space is not None:
                    stage = Stage.RUNNING if is_serving(space) else Stage.RUNTIME_ERROR
                    set_stage(session, space, stage, f"deploy failed: {exc}")
            return Outcome.FAILED
        return Outcome.DEPLOYED


def process_pending_deploys(
    settings: Settings, conn: redis.Redis, db: Any,
) -> dict[str, Outcome]:
    """Run every waiting deploy request now, one after another (no scheduler loop needed)."""
    deployer = Deployer(settings, conn, db)
    return {key: deployer.run(key) for key in deployer.pending()}
