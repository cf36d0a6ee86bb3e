"""What a restored store must say so the new machine rebuilds and deploys every Space.

Images are not in a backup, and the restored build records describe images on the old
machine. The worker's catch-up pass (builds/catchup.py, at worker start and every 30 s)
queues a build for every Space whose head commit has no build record, so restore:

- sets each Space's head to main in its restored repository (the database copy and the
  bundles are taken moments apart: the repository is what will be built);
- ends builds that were queued or running when the backup was taken (no worker here will
  ever finish them), as CANCELLED with the reason;
- removes the records of the head commit's builds (the rest of the history stays), so the
  catch-up pass builds the head here, and the Space deploys as after any push;
- forgets the deployed image and commit (they are not on this engine) and shows BUILDING.

A paused Space is rebuilt too and stays paused (the build job keeps it PAUSED).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select

from podium.spaces.stage import BuildStatus, Stage
from podium.store import mark_finished, set_stage
from podium.store.db import Database
from podium.store.models import Build, Space

INTERRUPTED = "the backup was taken while this build was queued or running"


@dataclass(slots=True)
class Handover:
    rebuilding: list[str] = field(default_factory=list)  # Space ids the worker will build
    without_commit: list[str] = field(default_factory=list)  # empty or missing repository
    cancelled: int = 0  # builds in flight at backup time


def hand_over(db: Database, heads: dict[str, str | None]) -> Handover:
    """Rewrite the restored store as above; ``heads`` maps each Space id (owner/name) to
    the head of main in its restored repository."""
    done = Handover()
    with db.session() as session:
        for space in session.scalars(select(Space).order_by(Space.id)):
            key = str(space.space_id)
            head = heads.get(key)
            for build in space.builds:
                if not BuildStatus(build.status).is_final:
                    mark_finished(session, build, BuildStatus.CANCELLED, failure_reason=INTERRUPTED)
                    done.cancelled += 1
            space.head_commit = head
            space.deployed_commit = None
            space.deployed_image = None
            if head is None:
                done.without_commit.append(key)
                if Stage(space.stage) not in (Stage.NO_APP_FILE, Stage.CONFIG_ERROR):
                    set_stage(session, space, Stage.NO_APP_FILE,
                              "restored from a backup without commits: push to it")
                continue
            session.execute(delete(Build).where(Build.space_id == space.id, Build.commit == head))
            set_stage(session, space, Stage.BUILDING,
                      f"restored from a backup: rebuilding {head[:12]}")
            done.rebuilding.append(key)
    return done
