"""The deployer: runs, in the scheduler process, the deploy requests finished builds leave
(``podium.builds.deploys``), by calling ``controller.deploy.deploy`` with that process's one
``Platform`` (its engine client, Redis connection and database, built once at start).

The build worker's job ends once the image is built, so a build slot is never held while a
container starts; the scheduler loop calls ``Deployer.run`` in a thread per Space (no
bounded pool: a deploy waiting for an app that never answers must not delay the others),
at most one deploy per Space (also across processes: the Space's deploy lock).
``process_pending_deploys`` does the same synchronously, for a process that runs no
scheduler loop (tests, scripts).

A request is dropped unrun when its build is no longer the Space's latest or the Space is
gone; otherwise it is forgotten only after the deploy returned (or raised), so a scheduler
killed mid-deploy leaves it for the next one. A request dropped, or a deploy that raised,
ends its build's log stream with ``failed`` and the reason; the deploy ends it otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from podium.builds.deploys import NUDGE_KEY, DeployRequest, DeployRequests
from podium.builds.logs import write_terminal
from podium.builds.records import is_latest, is_serving
from podium.keys import builds as keys
from podium.locks import LEASE_S, renewed
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Stage
from podium.store import find_space, set_stage
from podium.store.builds import find_build

from .deploy import deploy as deploy_request
from .platform import Platform

log = logging.getLogger(__name__)

# What runs a request: ``controller.deploy.deploy`` (a test may pass a stand-in to check the
# deployer's own decisions without an engine).
DeployFn = Callable[[Platform, DeployRequest], None]


class Outcome(StrEnum):
    DEPLOYED = "deployed"  # the deploy ran; it recorded RUNNING or RUNTIME_ERROR itself
    FAILED = "failed"  # the deploy raised; recorded here
    STALE = "stale"  # a newer build exists, or the Space is gone: dropped unrun
    BUSY = "busy"  # another deployer is deploying this Space; the request stays
    WAITING = "waiting"  # its build is not recorded as succeeded yet; the request stays
    NOTHING = "nothing"  # no request (already run)


class Deployer:
    nudge_key = NUDGE_KEY  # the build job pushes here once a request can run

    def __init__(self, platform: Platform, deploy: DeployFn = deploy_request) -> None:
        self.platform = platform
        self.conn = platform.redis
        self.db = platform.db
        self.deploy = deploy
        self.requests = DeployRequests(platform.redis)

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
            if verdict is None:
                outcome = self._deploy(space_id, request)
            else:
                outcome, why = verdict
                if outcome is not Outcome.STALE:
                    return outcome
                log.info("dropping the deploy of %s build %s: %s", space_id,
                         request.build_id, why)
                write_terminal(self.conn, request.build_id, BuildStatus.SUCCEEDED, why)
            self.requests.done(request)
            return outcome

    def _verdict(
        self, space_id: SpaceId, request: DeployRequest,
    ) -> tuple[Outcome, str] | None:
        """None when the request is to be deployed now; else why not (STALE: drop it)."""
        with self.db.session() as session:
            space = find_space(session, space_id)
            if space is None:
                return Outcome.STALE, "the Space was deleted before it started"
            if not is_latest(session, space, request.build_id):
                return Outcome.STALE, "a newer build replaced it before it started"
            build = find_build(session, request.build_id)
            status = BuildStatus(build.status) if build is not None else BuildStatus.FAILED
        # The job leaves its request before it records the build's success (so a worker
        # dying in between cannot leave a built Space that never starts): until then, wait;
        # if the reaper fails the build instead, drop it (the reaper ended its stream).
        if status is BuildStatus.SUCCEEDED:
            return None
        if status.is_final:
            return Outcome.STALE, f"the build ended {status}"
        return Outcome.WAITING, "its build is not recorded yet"

    def _deploy(self, space_id: SpaceId, request: DeployRequest) -> Outcome:
        try:
            self.deploy(self.platform, request)
        except Exception as exc:
            # Not retried: a deploy that raised once (bad config, engine gone) would keep
            # raising; the user sees why and pushes or restarts.
            log.exception("deploy failed for %s build %s", space_id, request.build_id)
            write_terminal(self.conn, request.build_id, BuildStatus.SUCCEEDED,
                           f"deploy failed: {exc}")
            with self.db.session() as session:
                space = find_space(session, space_id)
                if space is not None:
                    stage = Stage.RUNNING if is_serving(space) else Stage.RUNTIME_ERROR
                    set_stage(session, space, stage, f"deploy failed: {exc}")
            return Outcome.FAILED
        return Outcome.DEPLOYED


def process_pending_deploys(
    platform: Platform, deploy: DeployFn = deploy_request,
) -> dict[str, Outcome]:
    """Run every waiting deploy request now, one after another (no scheduler loop needed)."""
    deployer = Deployer(platform, deploy)
    return {key: deployer.run(key) for key in deployer.pending()}
