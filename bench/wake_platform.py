"""Wake time as a user sees it, through the whole platform: from a request at the public port
(data plane → Python proxy → wake request in Redis → scheduler loop → thaw or fresh start → the
proxy forwards) to the first 200, printed as one JSON document (progress on stderr).
bench/wake.py times ``Scheduler.wake`` against the container alone; this is what the target
"wake time from SLEEPING to first 200 for a Gradio hello Space < 3 s" means for a user.

The platform is started the way tests/e2e start it (``start_platform``: embedded Redis, api,
worker, proxy and scheduler processes, a unique ``instance``, free ports, demo=True so
admin/hello, the gradio-hello template, is built and deployed). For each depth:

- light: slept the way the idle check does (``Platform.scheduler.sleep``: the container is
  frozen);
- deep:  the container removed (a Scheduler from the same parts with ``freeze_s=0``).

and for each client:

- api:     ``GET {space}/config`` without text/html: the proxy holds it until the Space serves
  (``wake_wait_timeout``), timed to the 200;
- browser: ``GET {space}/`` with text/html: a 503 "waking" page at once, then
  ``__podium/status`` polled like the page's own script (at once, then after each "not
  ready" with the delays the served script uses), then the page again until 200.

Each run is split with a watcher on Redis (the proxy's wake request, the route's stage as the
scheduler writes it) and the engine's events (unpause / create / start), all relative to the
moment the request was sent.

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/wake_platform.py \
        [--rounds 5] [--build-timeout 1200] [--data-plane nginx-lua|nginx|python]

Bounded: every wait has a timeout; the platform's processes are stopped, every container
of this run's instance removed and its Spaces' /data unmounted and removed at the end (the
Space's image is left, as the e2e fixture leaves it: its layers are shared with other
installs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import redis

from podium.config import Settings
from podium.keys import RouteKeys as Keys
from podium.names import SpaceId
from podium.proxy.testing import localhost_resolver
from podium.routes import WAKE_DEDUPE_SECONDS
from podium.spaces.stage import Stage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 - the sibling module
    EngineEvents,
    RedisPoller,
    machine_load,
    parser_for,
    platform_settings,
    record_failure,
    say,
    space_containers,
    spread,
    stop_platform,
    terminate,
)

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# The waking page's script (podium.proxy.pages) polls the status at once, then again after
# each "not ready": ``setTimeout(poll, n<25?200:1000, n+1)`` (or a fixed delay). Read from
# the page served, so the bench follows the page.
FAST_POLL_RE = re.compile(r"setTimeout\(\s*poll\s*,\s*n\s*<\s*(\d+)\s*\?\s*(\d+)\s*:\s*(\d+)")
FIXED_POLL_RE = re.compile(r"setTimeout\(\s*poll\s*,\s*(\d+)")
ERROR_STAGES = {Stage.BUILD_ERROR, Stage.RUNTIME_ERROR, Stage.CONFIG_ERROR, Stage.NO_APP_FILE}


def wait_until(check: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(poll)


class RedisWatcher(RedisPoller):
    """What the proxy and the scheduler write for one Space: the wake request's
    de-duplication key (the proxy sets it, then pushes the request) and the route's stage."""

    def __init__(self, url: str, space_key: str, prefix: str = "podium") -> None:
        super().__init__(url, "redis-watcher")
        self.keys = Keys(prefix)
        self.space_key = space_key

    def sample(self) -> Iterator[tuple[str, dict[str, str]]]:
        try:
            pipe = self.conn.pipeline(transaction=False)
            pipe.exists(self.keys.wake_pending(self.space_key))
            pipe.hget(self.keys.routes, self.space_key)
            pending, raw = pipe.execute()
        except redis.RedisError:
            self._stop.wait(0.1)  # back off (the poll's own few ms follow)
            return
        stage = json.loads(raw)["stage"] if raw else "none"
        yield self.space_key, {"pending": str(bool(pending)), "stage": stage}

    def seen_at(self, what: str, value: str, since: float) -> float | None:
        return self.first(self.space_key, what, since, lambda v: v == value)


def page_poll_delays(html: str) -> Callable[[int], float]:
    """The delay the waking page's script waits after its poll number ``n`` said not ready."""
    fast = FAST_POLL_RE.search(html)
    if fast:
        limit, quick, slow = (int(g) for g in fast.groups())
        return lambda n: (quick if n < limit else slow) / 1000
    fixed = FIXED_POLL_RE.search(html)
    if fixed:
        return lambda _n: int(fixed.group(1)) / 1000
    raise RuntimeError("the waking page has no status poll script this bench understands")


class Bench:
    def __init__(self, started: Any, space_id: SpaceId, client: docker.DockerClient) -> None:
        from podium.controller.platform import Platform
        from podium.scheduler.service import Scheduler

        self.settings: Settings = started.settings
        self.space_id = space_id
        self.key = space_id.key
        self.client = client
        self.platform = Platform(self.settings)
        light = self.platform.scheduler  # the default freeze_s: sleep freezes
        deep = Scheduler(
            self.settings, light.backend, light.routes, self.platform.redis,
            secrets_provider=light.secrets_provider, on_change=light.on_change,
            drain_s=light.drain_s, freeze_s=0.0,
        )
        self.sleepers = {"light": light, "deep": deep}
        self.url = (f"http://{space_id.hostname(self.settings.domain)}:"
                    f"{self.settings.public_port}/")
        self.http = httpx.Client(
            trust_env=False, timeout=httpx.Timeout(self.settings.wake_wait_timeout + 30)
        )

    def close(self) -> None:
        self.http.close()
        self.platform.close()

    # -- the store -----------------------------------------------------------------------
    def stage(self) -> Stage | None:
        from podium.store import find_space

        with self.platform.db.session() as session:
            space = find_space(session, self.space_id)
            return Stage(space.stage) if space is not None else None

    def wait_stage(self, want: Stage, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Stage | None = None
        while time.monotonic() < deadline:
            stage = self.stage()
            if stage != last:
                say(f"{self.key}: {stage}")
                last = stage
            if stage == want:
                return
            if stage in ERROR_STAGES:
                raise RuntimeError(f"{self.key} ended {stage}; logs in "
                                   f"{self.settings.data_dir / 'logs'}")
            time.sleep(0.5 if want == Stage.SLEEPING else 2.0)
        raise TimeoutError(f"{self.key} not {want} after {timeout:.0f} s (last {last})")

    def containers(self) -> list[str]:
        found = space_containers(self.client, self.settings.instance, self.key,
                                 include_stopped=True)
        return [c.status for c in found]

    # -- one run -------------------------------------------------------------------------
    def put_to_sleep(self, depth: str) -> dict[str, Any]:
        # The wake before ends with the store told RUNNING and the Space's lock released;
        # sleep() does not wait for that lock, so retry while it is held.
        self.wait_stage(Stage.RUNNING, timeout=30)
        t0 = time.monotonic()
        wait_until(lambda: self.sleepers[depth].sleep(self.key), 15,
                   f"sleep({self.key}) to be accepted", poll=0.2)
        sleep_s = time.monotonic() - t0
        self.wait_stage(Stage.SLEEPING, timeout=60)
        # The proxy de-duplicates wake requests for WAKE_DEDUPE_SECONDS and nothing clears
        # the marker on wake or sleep: a request sooner than that after the last wake would
        # wait the marker out first. A user comes back hours later: wait it out here.
        pending = self.platform.routes.keys.wake_pending(self.key)
        t1 = time.monotonic()
        wait_until(lambda: not self.platform.redis.exists(pending),
                   WAKE_DEDUPE_SECONDS + 5, "the wake request marker to expire", poll=0.1)
        containers = self.containers()
        want = ["paused"] if depth == "light" else []
        if containers != want:
            raise RuntimeError(f"{depth} sleep left containers {containers}, expected {want}")
        return {"sleep_call_s": round(sleep_s, 3),
                "dedupe_wait_s": round(time.monotonic() - t1, 3)}

    def api_request(self) -> dict[str, Any]:
        r = self.http.get(self.url + "config", headers={"Accept": "application/json"})
        if r.status_code != 200:
            raise RuntimeError(f"GET config answered {r.status_code}: {r.text[:300]}")
        return {"total_s": time.time()}

    def browser_visit(self, t0: float) -> dict[str, Any]:
        page = self.http.get(self.url, headers={"Accept": HTML})
        page_at = time.time()
        if page.status_code != 503 or "waking" not in page.text.lower():
            raise RuntimeError(f"first visit answered {page.status_code}, not the waking page: "
                               f"{page.text[:300]}")
        delay = page_poll_delays(page.text)
        polls = 0
        deadline = time.monotonic() + self.settings.wake_wait_timeout
        while True:  # the page's script: poll at once, then again after each "not ready"
            status = self.http.get(self.url + "__podium/status", headers={"Accept": "*/*"})
            if status.status_code == 200 and status.json().get("ready"):
                polls += 1
                break
            if time.monotonic() >= deadline:
                raise TimeoutError(f"status not ready after {polls} polls: {status.text[:300]}")
            time.sleep(delay(polls))
            polls += 1
        ready_at = time.time()
        loaded = self.http.get(self.url, headers={"Accept": HTML})
        if loaded.status_code != 200:
            raise RuntimeError(f"page after ready answered {loaded.status_code}: "
                               f"{loaded.text[:300]}")
        return {"page_503_s": round(page_at - t0, 3), "status_polls": polls,
                "status_ready_s": round(ready_at - t0, 3), "total_s": time.time()}

    def run(self, depth: str, mode: str, watcher: RedisWatcher,
            events: EngineEvents) -> dict[str, Any]:
        out = self.put_to_sleep(depth)
        t0 = time.time()
        got = self.api_request() if mode == "api" else self.browser_visit(t0)
        end = got.pop("total_s")
        out = {"total_s": round(end - t0, 3), **got, **out}
        time.sleep(0.05)  # let the watcher and the event stream catch up

        def rel(at: float | None) -> float | None:
            return round(at - t0, 3) if at is not None else None

        engine = events.first("unpause" if depth == "light" else "start", t0)
        out["split"] = {
            # the proxy asked (Redis), the scheduler took it (route APP_STARTING), the engine
            # thawed / started the container, the app answered its health probe (route
            # RUNNING); the rest until the 200 is the proxy's poll and the forward.
            "wake_requested_s": rel(watcher.seen_at("pending", "True", t0)),
            "route_app_starting_s": rel(watcher.seen_at("stage", Stage.APP_STARTING, t0)),
            "engine_done_s": rel(engine),
            "route_running_s": rel(watcher.seen_at("stage", Stage.RUNNING, t0)),
        }
        if depth == "deep":
            out["split"]["engine_create_s"] = rel(events.first("create", t0))
        running = out["split"]["route_running_s"]
        if running is not None:
            # What the client adds after the route serves: the proxy's 50 ms poll and the
            # forward (api); the page's 1 s status poll (browser).
            seen = out["total_s"] if mode == "api" else out["status_ready_s"]
            out["split"]["seen_after_running_s"] = round(seen - running, 3)
        return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    totals = [r["total_s"] for r in runs]
    out: dict[str, Any] = {"median_s": round(statistics.median(totals), 3),
                           "min_s": round(min(totals), 3), "max_s": round(max(totals), 3)}
    split: dict[str, Any] = {}
    for name in runs[0]["split"]:
        values = [r["split"][name] for r in runs if r["split"].get(name) is not None]
        if values:
            split[name] = spread(values)
    for name in ("page_503_s", "status_ready_s", "status_polls"):
        values = [r[name] for r in runs if name in r]
        if values:
            split[name] = spread(values)
    out["split"] = split
    out["runs"] = runs
    return out


def measure(bench: Bench, args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Each depth and client, ``args.rounds`` times, on the started platform's demo Space."""
    results["space"] = bench.key
    t0 = time.monotonic()
    bench.wait_stage(Stage.RUNNING, args.build_timeout)
    results["build_and_deploy_s"] = round(time.monotonic() - t0, 1)
    r = bench.http.get(bench.url + "config")
    if r.status_code != 200:
        raise RuntimeError(f"running Space answered {r.status_code}: {r.text[:300]}")
    results["sdk_version"] = r.json().get("version")
    with (RedisWatcher(bench.settings.redis_url, bench.key) as watcher,
          EngineEvents(bench.client, bench.settings.instance) as events):
        for depth in ("light", "deep"):
            for mode in ("api", "browser"):
                runs = []
                for i in range(args.rounds):
                    run = bench.run(depth, mode, watcher, events)
                    say(f"{depth}/{mode} {i + 1}/{args.rounds}: "
                        f"{run['total_s']:.3f} s {run['split']}")
                    runs.append(run)
                results.setdefault(depth, {})[mode] = summarize(runs)


def main() -> int:
    from podium.services.up import start_platform

    parser = parser_for(__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--build-timeout", type=float, default=1200.0,
                        help="seconds for the demo Space's first build and deploy")
    parser.add_argument("--data-plane", default=None,
                        help="PODIUM_PROXY_DATA_PLANE for this run (default: the setting's)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, terminate)
    client = docker.from_env()
    results: dict[str, Any] = {"rounds": args.rounds, "cpus": os.cpu_count(),
                               "load_at_start": machine_load()}
    code = 0
    with tempfile.TemporaryDirectory(prefix="podium-wake-") as tmp, localhost_resolver():
        settings = platform_settings(
            Path(tmp) / "data",
            **({"proxy_data_plane": args.data_plane} if args.data_plane else {}),
        )
        if settings.ca_bundle is None:
            say("PODIUM_CA_BUNDLE is not set: pip inside the build may fail behind a TLS proxy")
        results |= {"instance": settings.instance, "data_plane": settings.proxy_data_plane,
                    "wake_wait_timeout_s": settings.wake_wait_timeout}
        say(f"starting the platform ({settings.instance}, public port {settings.public_port})")
        started = start_platform(settings, demo=True, say=lambda m: say(m))
        bench: Bench | None = None
        try:
            if started.demo is None:
                raise RuntimeError("start_platform deployed no demo Space")
            bench = Bench(started, started.demo, client)
            measure(bench, args, results)
        except Exception as err:
            code = 1
            # start_platform runs no supervisor watch (only `podium up` restarts children):
            # say which process is gone, if one is.
            record_failure(results, err, settings, "podium-wake-logs-", dead_processes=[
                role for role, alive in started.supervisor.status().items() if not alive])
        finally:
            if bench is not None:
                bench.close()
            stop_platform(started, client, settings)
            client.close()
    results["load_at_end"] = machine_load()
    json.dump(results, sys.stdout, indent=2)
    print()
    return code


if __name__ == "__main__":
    sys.exit(main())
