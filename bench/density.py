"""Density: how many idle hello Spaces this machine holds, what each costs awake and frozen,
and how long a random one takes to wake through the proxy (thaw vs deep). JSON on stdout,
progress on stderr.

Parts, as the platform wires them: an embedded Redis, the Docker backend and Scheduler, the
Python proxy (``create_proxy_app``: a request to a sleeping Space leaves a wake request and,
for an API client, waits for the Space) and the scheduler loop serving wake requests.
Spaces: ``--static`` plain-HTTP hello apps (Python's http.server: what an idle static-ish
Space costs) and ``--gradio`` gradio-hello Spaces built from the template.

Per Space, from each container's own cgroup (podium.scheduler.budget.cgroup_usage): CPU over
a ``--window`` of seconds and memory in use, idle-awake and then frozen; host-wide, the
busy share of /proc/stat and MemAvailable over the same windows (other work on a shared
machine shows there too: read the per-Space figures first).

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/density.py \
        [--static 100] [--gradio 10] [--window 15] [--rounds 3] [--freeze-each [--awake 10]]

With --freeze-each every Space is frozen as soon as it serves (what the idle pass does after
PODIUM_FREEZE_AFTER) and --awake of each kind are thawed for the idle-awake figures: 100
awake Gradio apps alone need more than 2 cores, and the first run without it failed at the
96th Space (load average 100-300).

Disk quotas are off here (no loop-mounted image per Space): they cost nothing at runtime
and 100 loop devices would only test the host's loop limit.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import redis
import redis.asyncio as aioredis
from wake import build_gradio_image, build_http_image, import_time  # bench/wake.py

from podium.children import free_port
from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.app import create_proxy_app
from podium.proxy.testing import ServerThread
from podium.routes import RouteTable
from podium.scheduler.docker import DockerBackend
from podium.scheduler.idle import deepen
from podium.scheduler.loop import run_forever
from podium.scheduler.service import Scheduler
from podium.scheduler.spec import RunSpec
from podium.services.redis_server import EmbeddedRedis

DOMAIN = "density.test"


def say(message: str) -> None:
    print(f"[density] {message}", file=sys.stderr, flush=True)


class NoDeploys:
    # The loop also waits on this list (a finished build's nudge); nothing pushes to it here.
    nudge_key = "podium:bench:density:no-deploy-nudges"

    def pending(self) -> list[str]:
        return []

    def run(self, space_key: str) -> object:
        return None


def host_cpu() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(backend: DockerBackend, groups: dict[str, list[str]], window: float) -> dict:
    """CPU (% of one core) and memory (MB) per Space over ``window`` seconds, per group."""
    def snapshot() -> dict[str, tuple[int, int]]:
        out = {}
        for instance in backend.list_instances():
            usage = backend.usage(instance)
            if usage is not None:
                out[instance.space_key] = (usage.cpu_ns, usage.memory)
        return out

    busy0, total0 = host_cpu()
    before = snapshot()
    time.sleep(window)
    after = snapshot()
    busy1, total1 = host_cpu()
    result: dict[str, Any] = {
        "host_busy_pct_of_all_cores": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1),
        "host_mem_available_mb": mem_available() >> 20,
    }
    for name, keys in groups.items():
        cpu = [(after[k][0] - before[k][0]) / (window * 1e9) * 100
               for k in keys if k in before and k in after]
        mem = [after[k][1] / 2**20 for k in keys if k in after]
        if cpu:
            result[name] = {
                "spaces": len(cpu),
                "cpu_pct_of_core_per_space_median": round(statistics.median(cpu), 3),
                "cpu_pct_of_core_total": round(sum(cpu), 2),
                "mem_mb_per_space_median": round(statistics.median(mem), 1),
                "mem_mb_total": round(sum(mem)),
            }
    return result


def wake_through_proxy(proxy_url: str, space: SpaceId, http: httpx.Client) -> float:
    """An API client's GET (no text/html): the proxy holds it until the Space serves."""
    t0 = time.perf_counter()
    answer = http.get(proxy_url + "/", headers={"host": space.hostname(DOMAIN)})
    if answer.status_code != 200:
        raise RuntimeError(f"{space} answered {answer.status_code} on wake")
    return round(time.perf_counter() - t0, 3)


def deploy_all(sched: Scheduler, settings: Settings, image: str, sdk: str, count: int,
               prefix: str, freeze: bool, failed: list[str]) -> list[SpaceId]:
    """Deploys ``count`` Spaces (4 at a time); with ``freeze`` each is frozen as soon as it
    serves, as PODIUM_FREEZE_AFTER does once a Space is idle (awake, 100 idle Gradio apps
    alone need more than this machine's 2 cores). A Space that fails to start is kept in
    ``failed`` (with the reason) and left out: the others are still measured."""
    spaces = [SpaceId("density", f"{prefix}{i:03d}") for i in range(count)]

    def one(space: SpaceId) -> SpaceId | None:
        spec = RunSpec.for_space(settings, space, image, app_port=7860, sdk=sdk,
                                 commit="d" * 40, startup_timeout=600.0)
        try:
            sched.deploy(spec)
            if freeze:
                sched.sleep(space.key)
        except Exception as exc:  # noqa: BLE001 - a failed start is data, not the end
            failed.append(f"{space}: {type(exc).__name__}: {exc}")
            return None
        return space

    with ThreadPoolExecutor(max_workers=4) as pool:
        return [s for s in pool.map(one, spaces) if s is not None]


def wakes(sched: Scheduler, proxy_url: str, spaces: list[SpaceId], rounds: int) -> dict:
    out: dict[str, list[float]] = {"thaw_s": [], "deep_s": []}
    with httpx.Client(timeout=120, trust_env=False) as http:
        for _ in range(rounds):
            space = random.choice(spaces)
            for depth in ("thaw_s", "deep_s"):
                if depth == "deep_s":
                    sched.sleep(space.key)
                    deepen(sched, space.key)  # removed: as the budget or sleep_time does
                try:
                    out[depth].append(wake_through_proxy(proxy_url, space, http))
                except (RuntimeError, httpx.HTTPError) as exc:  # kept: a failed wake is data
                    out.setdefault("errors", []).append(f"{depth} {exc}")  # type: ignore[arg-type]
            sched.sleep(space.key)
    return {k: ({"median": statistics.median(v), "runs": v} if v and k != "errors" else v)
            for k, v in out.items()}


def main() -> int:  # noqa: PLR0915 - one bench, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--static", type=int, default=100)
    parser.add_argument("--gradio", type=int, default=10)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=30.0)
    parser.add_argument("--freeze-each", action="store_true",
                        help="freeze every Space once it serves; --awake of each kind are "
                             "thawed for the idle-awake figures")
    parser.add_argument("--awake", type=int, default=10)
    parser.add_argument("--no-cpu-weight", action="store_true",
                        help="run Spaces outside the low-weight cgroup (a shared machine: "
                             "other jobs there starve them, as bench/push.py says)")
    args = parser.parse_args()
    client = docker.from_env()
    results: dict[str, Any] = {"bench": "density", "args": vars(args),
                               "loadavg_start": os.getloadavg(), "cpus": os.cpu_count(),
                               "host_mem_total_mb": os.sysconf("SC_PHYS_PAGES")
                               * os.sysconf("SC_PAGE_SIZE") >> 20}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        settings = Settings(data_dir=Path(tmp) / "data", domain=DOMAIN, space_data_quota="0",
                            space_disk_quota="0", public_port=free_port(),
                            wake_wait_timeout=120, secret_key="bench",
                            **({"space_cgroup_parent": ""} if args.no_cpu_weight else {}))
        settings.ensure_dirs()
        conn = redis.Redis.from_url(server.url)
        backend = DockerBackend(settings, client, scope=f"density-{uuid.uuid4().hex[:8]}",
                                poll_s=0.02)
        sched = Scheduler(settings, backend, RouteTable(conn), conn, drain_s=0)
        stop = threading.Event()
        loop = threading.Thread(target=run_forever, args=(sched, stop), daemon=True, kwargs={
            "deploys": NoDeploys(), "idle_every": 10**6, "reconcile_every": 10**6})
        images: list[str] = []
        spaces: dict[str, list[SpaceId]] = {}
        try:
            loop.start()
            app = create_proxy_app(settings, aioredis.Redis.from_url(server.url),
                                   cache_seconds=0)
            with ServerThread(app, port=settings.public_port) as proxy:
                images.append(build_http_image(client, settings.base_image))
                if args.gradio:
                    t0 = time.perf_counter()
                    images.append(build_gradio_image(settings, client,
                                                     SpaceId("density", "gradio-build")))
                    results["gradio_build_s"] = round(time.perf_counter() - t0, 1)
                    results["gradio_import_s"] = import_time(client, images[-1], "gradio")
                    say(f"import gradio: {results['gradio_import_s']} s")
                t0 = time.perf_counter()
                failed: list[str] = []
                results["deploy_failed"] = failed
                spaces["static"] = deploy_all(sched, settings, images[0], "static",
                                              args.static, "s", args.freeze_each, failed)
                results["static_deploy_s"] = round(time.perf_counter() - t0, 1)
                say(f"{args.static} static Spaces running")
                if args.gradio:
                    t0 = time.perf_counter()
                    spaces["gradio"] = deploy_all(sched, settings, images[1], "gradio",
                                                  args.gradio, "g", args.freeze_each, failed)
                    results["gradio_deploy_s"] = round(time.perf_counter() - t0, 1)
                    say(f"{args.gradio} gradio Spaces running")
                groups = {name: [s.key for s in found] for name, found in spaces.items()}
                awake = groups
                if args.freeze_each:  # thaw a sample: what an idle awake Space costs
                    awake = {name: keys[:args.awake] for name, keys in groups.items()}
                    for keys in awake.values():
                        for key in keys:
                            sched.wake(key)
                time.sleep(args.settle)  # apps finish starting: idle is what is measured
                results["idle_awake"] = measure(backend, awake, args.window)
                say(f"awake: {results['idle_awake']}")
                t0 = time.perf_counter()
                with ThreadPoolExecutor(max_workers=4) as pool:
                    list(pool.map(sched.sleep, [k for keys in groups.values() for k in keys]))
                results["freeze_all_s"] = round(time.perf_counter() - t0, 1)
                results["frozen"] = measure(backend, groups, args.window)
                say(f"frozen: {results['frozen']}")
                results["wake_through_proxy"] = {
                    name: wakes(sched, proxy.url, found, args.rounds)
                    for name, found in spaces.items()
                }
                say(f"wakes: {results['wake_through_proxy']}")
        finally:
            stop.set()
            loop.join(30)
            for instance in backend.list_instances():
                try:  # one container the engine cannot kill must not keep the rest running
                    backend.remove(instance)
                except docker.errors.APIError as exc:
                    say(f"could not remove {instance.id[:12]}: {exc}")
            for found in spaces.values():
                for space in found:
                    backend.remove_volume(space)
            for ref in images:
                client.images.remove(ref, force=True)
            conn.close()
    results["loadavg_end"] = os.getloadavg()
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
