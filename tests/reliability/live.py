"""The platform pieces the scheduler tests of issue 10 (items 5 and 12) run for real: Spaces
built by a real rq worker process, their deploy requests run by the scheduler loop
(``run_forever`` with the controller's ``Deployer``, as ``podium scheduler`` runs it) on the
real Docker engine, stages read back from the store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import redis

from podium.builds.queue import enqueue_build
from podium.config import Settings
from podium.controller.deployer import Deployer
from podium.controller.platform import Platform
from podium.names import SpaceId
from podium.scheduler.base import Instance
from podium.scheduler.loop import run_forever
from podium.spaces.stage import BuildStatus, Stage
from podium.store.db import Database
from tests.integration.test_builds_docker import run_burst_worker
from tests.integration.test_builds_queue import build_record, commit_files, new_space

README = ("---\ntitle: T\nsdk: docker\napp_port: 8000\n"
          "startup_duration_timeout: {timeout}\n---\n")
DOCKERFILE = 'FROM {base}\nCOPY app.py /app/app.py\nCMD ["python3", "-u", "/app/app.py"]\n'
# Never listens: what holds a start until its startup timeout.
SILENT_DOCKERFILE = 'FROM {base}\nCMD ["sleep", "infinity"]\n'


@dataclass
class Live:
    settings: Settings
    redis: redis.Redis
    db: Database
    base: str
    platform: Platform
    spaces: list[SpaceId] = field(default_factory=list)

    def space(self, app: str | None, timeout: str = "2m") -> tuple[SpaceId, str]:
        """A Docker Space serving ``app`` (Python source listening on 8000), or, with None,
        one that never listens. Returns (id, commit); nothing is built yet."""
        space_id, _ = new_space(self.settings, self.db)
        self.spaces.append(space_id)
        files = {"README.md": README.format(timeout=timeout)}
        if app is None:
            files["Dockerfile"] = SILENT_DOCKERFILE.format(base=self.base)
            files["note.txt"] = uuid.uuid4().hex
        else:
            files["Dockerfile"] = DOCKERFILE.format(base=self.base)
            files["app.py"] = app + f"\n# {uuid.uuid4().hex}\n"
        return space_id, commit_files(self.settings, space_id, files)

    def build(self, *spaces: tuple[SpaceId, str]) -> list[str]:
        """Build each (real worker process); each build leaves its deploy request. Returns
        the build ids."""
        refs = [enqueue_build(self.settings, self.redis, self.db, s, c) for s, c in spaces]
        run_burst_worker(self.settings)
        for ref in refs:
            build = build_record(self.db, ref.build_id)
            assert build.status == BuildStatus.SUCCEEDED, build.failure_reason
        return [ref.build_id for ref in refs]

    def stage(self, space_id: SpaceId) -> tuple[Stage, str, str]:
        from podium.store import find_space

        with self.db.session() as session:
            space = find_space(session, space_id)
            if space is None:
                return Stage.DELETING, "gone", ""
            return Stage(space.stage), space.stage_message or "", space.error_detail or ""

    def containers(self, space_id: SpaceId) -> list[Instance]:
        return self.platform.scheduler.backend.list_instances(space_id.key)

    def upstream(self, space_id: SpaceId) -> str:
        route = self.platform.routes.get(space_id.key)
        assert route is not None and route.upstream, route
        return route.upstream


def wait_until(check: Callable[[], object], timeout: float, what: str,
               step: float = 0.05) -> float:
    """Poll ``check`` until truthy; returns the seconds it took, fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - started


def in_thread(work: Callable[[], object], timeout: float, what: str) -> float:
    """Run ``work`` (a controller call) in a thread; fail if it has not returned within
    ``timeout`` (on unfixed code it may block for the startup timeout). Returns seconds."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"{what} did not return within {timeout:g}s")
    if errors:
        raise errors[0]
    return time.monotonic() - started


def live_platform(settings: Settings, conn: redis.Redis, db: Database,
                  base: str) -> Iterator[Live]:
    """The scheduler loop running in this process for the test's duration. At the end every
    container of the test's scope goes first, so starts still waiting for an app end (on
    unfixed code they would hold the loop up to their startup timeout)."""
    platform = Platform(settings)
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(platform.scheduler, stop), kwargs={
        "idle_every": 3600, "reconcile_every": 3600,
        "deploys": Deployer(platform),
    }, daemon=True)
    loop.start()
    try:
        yield Live(settings, conn, db, base, platform)
    finally:
        backend = platform.scheduler.backend
        stop.set()
        for _ in range(3):
            for instance in backend.list_instances():
                backend.remove(instance)
            loop.join(10)
            if not loop.is_alive():
                break
        for instance in backend.list_instances():
            backend.remove(instance)
        platform.close()
