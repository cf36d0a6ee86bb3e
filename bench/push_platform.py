"""The platform side of bench/push.py: a running platform under test (``Bench``: pushes,
their stage timelines, the image's ``import gradio``) and a watcher polling the route table
and the store every few ms (on harness.py's ``RedisPoller``). Split from push.py, which
keeps the runs, their kinds and the JSON. ``attempt`` and ``summarize``, which
bench/push_standby.py shares, live here so the two never import each other.

Each push is split (seconds after ``git push`` was started):

- ``push_returned``: ``git push`` exited (receive-pack and both hooks ran);
- ``build_queued`` / ``build_started`` / ``build_finished``: the Build record's times;
- ``phase_<name>``: first line of each build phase in the build's log stream (the Redis
  stream ids are the writer's clock in ms): clone, dependencies, sdk, code, export,
  launching (the scheduler process took the deploy request);
- ``container_create`` / ``container_start``: the engine's events for this instance;
- ``route_switch``: the route table names the new container (polled every 5 ms);
- ``runtime_sha``: the store's deployed commit (what ``/runtime`` answers as ``sha``) is the
  new commit (polled every 5 ms);
- ``first_200_new``: ``GET {space}/config`` through the public port answers 200 with the
  new version's marker (polled every 20 ms);
- ``ready_event``: the build stream's terminal ``ready``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import httpx

from podium.config import Settings
from podium.keys import RouteKeys
from podium.keys import builds as build_keys
from podium.names import SpaceId
from podium.spaces.stage import Stage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 - the sibling module
    EngineEvents,
    RedisPoller,
    space_containers,
    spread,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "gradio-hello"
HTTP_POLL_S = 0.02
PUSH_TIMEOUT_S = 600.0
MARK = "podium-bench-marker"


class PushFailed(RuntimeError):
    """The push's build or start failed (its stream ended ``failed``): the round is
    recorded with the reason and left out of the medians."""


class Watcher(RedisPoller):
    """The route table (the Space's upstream) and the store (stage and deployed commit) of
    the Spaces it is told about."""

    def __init__(self, settings: Settings, platform: Any) -> None:
        super().__init__(settings.redis_url, "push-watcher")
        self.keys = RouteKeys()
        self.platform = platform
        self.spaces: set[SpaceId] = set()

    def sample(self) -> Iterator[tuple[str, dict[str, str]]]:
        from podium.store import find_space

        for space_id in list(self.spaces):
            try:
                raw = self.conn.hget(self.keys.routes, space_id.key)
                with self.platform.db.session() as session:
                    space = find_space(session, space_id)
                    stage = str(space.stage) if space else "none"
                    sha = str(space.deployed_commit or "") if space else ""
            except Exception:  # noqa: BLE001 - a busy SQLite or Redis: poll again
                continue
            route = json.loads(raw) if raw else {}
            yield space_id.key, {"upstream": str(route.get("upstream")), "stage": stage,
                                 "sha": sha}


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class Bench:
    def __init__(self, started: Any, client: docker.DockerClient, token: str) -> None:
        from podium.controller.platform import Platform

        self.settings: Settings = started.settings
        self.client = client
        self.token = token
        self.platform = Platform(self.settings)
        self.http = httpx.Client(trust_env=False, timeout=httpx.Timeout(30.0))
        self.api = httpx.Client(
            trust_env=False, timeout=httpx.Timeout(60.0),
            base_url=f"http://127.0.0.1:{self.settings.public_port}",
            headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()
        self.api.close()
        self.platform.close()

    def url(self, space_id: SpaceId) -> str:
        return f"http://{space_id.hostname(self.settings.domain)}:{self.settings.public_port}/"

    def git(self, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(workdir), "-c", "user.name=bench",
                               "-c", "user.email=bench@x", *args],
                              check=True, capture_output=True, text=True, timeout=300)

    def remote(self, space_id: SpaceId) -> str:
        return (f"http://{self.settings.admin_user}:{self.token}@127.0.0.1:"
                f"{self.settings.public_port}/spaces/{space_id}.git")

    def workdir(self, space_id: SpaceId, root: Path) -> Path:
        path = root / space_id.name
        shutil.copytree(TEMPLATE, path)
        subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
        return path

    def create(self, space_id: SpaceId) -> None:
        r = self.api.post("/api/spaces", json={"name": space_id.name, "sdk": "gradio"})
        if r.status_code != 201:
            raise RuntimeError(f"create {space_id}: {r.status_code} {r.text[:300]}")

    def delete(self, space_id: SpaceId) -> None:
        self.api.delete(f"/api/spaces/{space_id}")

    def latest_build(self, space_id: SpaceId, commit: str) -> Any:
        from podium.store import get_space, list_builds

        with self.platform.db.session() as session:
            for build in list_builds(session, get_space(session, space_id), limit=3):
                if build.commit == commit:
                    session.expunge(build)
                    return build
        return None

    def stream_phases(self, build_id: str) -> tuple[dict[str, float], float | None, str | None]:
        entries = self.platform.redis.xrange(build_keys.log_stream(build_id))
        phases: dict[str, float] = {}
        ready: float | None = None
        failed: str | None = None
        for entry_id, fields in entries:
            at = int(entry_id.decode().split("-")[0]) / 1000
            f = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
            if f.get("event") == "ready":
                ready = at
            elif f.get("event") == "failed":
                failed = f.get("reason") or "failed"
            elif f.get("phase"):
                phases.setdefault(f["phase"], at)
        return phases, ready, failed

    def wait_new(self, space_id: SpaceId, commit: str, marker: str, deadline: float) -> float:
        url = self.url(space_id) + "config"
        polls = 0
        while time.monotonic() < deadline:
            try:
                r = self.http.get(url, headers={"Accept": "application/json"})
                if r.status_code == 200 and marker in r.text:
                    return time.time()
            except httpx.HTTPError:
                pass
            polls += 1
            if polls % 25 == 0:  # the push failed (build or start): say why, go on
                build = self.latest_build(space_id, commit)
                failed = self.stream_phases(build.id)[2] if build else None
                if failed:
                    raise PushFailed(failed)
            time.sleep(HTTP_POLL_S)
        raise TimeoutError(f"{space_id} never served {marker}")

    def push(self, space_id: SpaceId, workdir: Path, marker: str, watcher: Watcher,
             events: EngineEvents) -> dict[str, Any]:
        self.git(workdir, "add", "-A")
        self.git(workdir, "commit", "-q", "-m", marker)
        commit = self.git(workdir, "rev-parse", "HEAD").stdout.strip()
        t0 = time.time()
        self.git(workdir, "push", "-q", self.remote(space_id), "HEAD:main")
        pushed = time.time()
        deadline = time.monotonic() + PUSH_TIMEOUT_S
        first = self.wait_new(space_id, commit, marker, deadline)
        key = space_id.key
        while time.monotonic() < deadline:  # the sha and the ready event come right after
            build = self.latest_build(space_id, commit)
            phases, ready, _ = self.stream_phases(build.id) if build else ({}, None, None)
            sha_at = watcher.first(key, "sha", t0, lambda v: v == commit)
            if ready is not None and sha_at is not None and build.finished_at is not None:
                break
            time.sleep(0.1)
        else:
            raise TimeoutError(f"{space_id} {commit[:12]}: no ready event or sha")
        old_upstream = self._upstream_before(key, t0, watcher)

        def rel(at: float | None) -> float | None:
            return round(at - t0, 3) if at is not None else None

        split: dict[str, float | None] = {
            "push_returned": rel(pushed),
            "build_queued": rel(_epoch(build.queued_at)),
            "build_started": rel(_epoch(build.started_at)),
        }
        split |= {f"phase_{name}": rel(at) for name, at in phases.items()}
        split |= {
            "build_finished": rel(_epoch(build.finished_at)),
            "container_create": rel(events.first("create", t0)),
            "container_start": rel(events.first("start", t0)),
            "route_switch": rel(watcher.first(
                key, "upstream", t0, lambda v: v not in ("None", old_upstream))),
            "runtime_sha": rel(sha_at),
            "first_200_new": rel(first),
            "ready_event": rel(ready),
        }
        split["standby_thawed"] = rel(events.first("unpause", t0))  # the warm path only
        return {"total_s": split["first_200_new"], "commit": commit, "split": split,
                "path": self.deploy_path(build.id)}

    def deploy_path(self, build_id: str) -> str | None:
        """The deploy's "Deploy path: ..." line (scheduler/warm.py), as its log has it."""
        for _entry_id, fields in self.platform.redis.xrange(build_keys.log_stream(build_id)):
            for value in fields.values():
                text = value.decode(errors="replace")
                if text.startswith("Deploy path:"):
                    return text
        return None

    @staticmethod
    def _upstream_before(key: str, t0: float, watcher: Watcher) -> str | None:
        before = [v for t, k, w, v in list(watcher.seen) if k == key and w == "upstream"
                  and t < t0]
        return before[-1] if before else None

    def container_id(self, space_id: SpaceId) -> str | None:
        """The Space's one running container (None while two overlap or none runs)."""
        found = space_containers(self.client, self.settings.instance, space_id.key)
        return found[0].id if len(found) == 1 else None

    def image_id(self, space_id: SpaceId) -> str:
        return space_containers(self.client, self.settings.instance, space_id.key)[0].image.id

    def wait_settled(self, space_id: SpaceId, watcher: Watcher, timeout: float = 60) -> None:
        """RUNNING, and the replaced container gone (its drain ended), before the next push."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = watcher.last_value(space_id.key, "stage") == Stage.RUNNING
            found = space_containers(self.client, self.settings.instance, space_id.key)
            if running and len(found) == 1:
                return
            time.sleep(0.2)
        raise TimeoutError(f"{space_id} did not settle")

    def import_gradio(self, image: str, rounds: int = 3) -> dict[str, Any]:
        code = ("import time; t = time.perf_counter(); import gradio; "
                "print(time.perf_counter() - t)")
        times = []
        for _ in range(rounds):
            out = self.client.containers.run(image, ["python", "-c", code], remove=True,
                                             network_disabled=True, user="1000")
            times.append(float(out.decode().strip().splitlines()[-1]))
        return {"image": image, "median_s": round(statistics.median(times), 3),
                "runs_s": [round(t, 3) for t in times]}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in runs if "failed" in r]
    runs = [r for r in runs if "failed" not in r]
    out: dict[str, Any] = {"failed_rounds": failed}
    if not runs:
        return out
    out["total_s"] = spread([r["total_s"] for r in runs])
    names: list[str] = []
    for r in runs:
        names += [n for n in r["split"] if n not in names]
    out["split_median"] = {
        n: statistics.median(v) for n in names
        if (v := [r["split"][n] for r in runs if r["split"].get(n) is not None])}
    out["runs"] = runs
    return out


def attempt(bench: Bench, space: SpaceId, work: Path, marker: str, watcher: Watcher,
            events: EngineEvents) -> dict[str, Any]:
    try:
        return bench.push(space, work, marker, watcher, events)
    except PushFailed as err:  # e.g. Gradio's own localhost check timing out under load
        return {"failed": str(err)[:2000]}
