"""Dashboard and API latency while Spaces spin on every core, with and without the Spaces'
low CPU weight (issue 10 item 14: "dashboard and API p95 under 500 ms while every Space
spins"). Printed as one JSON document (progress on stderr).

The platform is started as tests/e2e start it (``start_platform``: embedded Redis, api,
worker, proxy and scheduler processes, free ports, a unique ``instance``), here with its
own Spaces' parent cgroup so the run touches no other install's. Two Space containers are
started by the platform's Docker backend (the same create path, limits and parent cgroup
as any deploy) from an image whose app runs a busy loop in one process per core, each
allowed every core. Then, round after round, side by side:

- idle:    the Spaces' processes stopped (SIGSTOP), the machine as without them;
- weights: the Spaces spinning, their parent at ``space_cpu_shares`` (128);
- equal:   the Spaces spinning, their parent at the default weight 1024 (today's main puts
           Spaces under Docker's own parent, also 1024).

Each round logs in once and times, one after the other through the public port (nginx data
plane, Python proxy, API), ``GET /`` (the dashboard's gallery, logged in) and
``GET /api/spaces``. The machine's load average is recorded before and after: on a shared
machine other work is in every figure, the same in all three columns of one round.

    .venv/bin/python bench/cpu.py [--rounds 5] [--requests 20] [--clients 1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx

from podium.config import Settings
from podium.names import SpaceId
from podium.scheduler import cpu
from podium.scheduler.docker import DockerBackend
from podium.scheduler.spec import RunSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 - the sibling module
    parser_for,
    platform_settings,
    say,
    stop_platform,
    terminate,
)
from images import build_from_files  # noqa: E402 - the sibling module

# The spinning Space's app, shared with tests/reliability/test_cpu_priority.py.
SPIN = (Path(__file__).parent / "spin_app.py").read_text()
CONDITIONS = ("idle", "weights", "equal")
ENDPOINTS = {"dashboard": "/", "api": "/api/spaces"}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def build_spin_image(client: docker.DockerClient, base: str) -> str:
    files = {"Dockerfile": f'FROM {base}\nCOPY app.py /app/app.py\n'
                           'CMD ["python3", "-u", "/app/app.py"]\n', "app.py": SPIN}
    return build_from_files(client, f"podium-bench/spin:{uuid.uuid4().hex[:10]}", files)


def start_spinners(settings: Settings, client: docker.DockerClient, image: str,
                   count: int) -> tuple[DockerBackend, list[int]]:
    backend = DockerBackend(settings, client, scope=settings.instance)
    cores = float(os.cpu_count() or 2)
    for n in range(count):
        spec = RunSpec.for_space(
            settings, SpaceId("bench", f"spin{n}"), image, app_port=7860, sdk="docker",
            commit="c1", memory="256m", pids=64, cpus=cores)
        instance = backend.start(spec)
        backend.wait_healthy(instance, timeout=60)
    pids = [int(row[1]) for i in backend.list_instances()
            for row in client.containers.get(i.id).top()["Processes"]]
    return backend, pids


def login(settings: Settings) -> httpx.Client:
    base = f"http://localhost:{settings.public_port}"
    http = httpx.Client(base_url=base, trust_env=False, timeout=httpx.Timeout(60.0),
                        headers={"Origin": base}, limits=httpx.Limits(max_connections=64))
    answer = http.post("/api/login", json={"username": settings.admin_user,
                                           "password": settings.admin_password})
    answer.raise_for_status()
    return http


def timed(http: httpx.Client, path: str, count: int, clients: int) -> list[float]:
    """``count`` requests from each of ``clients`` concurrent clients, each timed."""
    def client_run(_n: int) -> list[float]:
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            answer = http.get(path, headers={"Accept": "text/html" if path == "/" else "*/*"})
            out.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise RuntimeError(f"GET {path} answered {answer.status_code}: "
                                   f"{answer.text[:200]}")
        return out

    with ThreadPoolExecutor(clients) as pool:
        return [t for run in pool.map(client_run, range(clients)) for t in run]


def one_round(http: httpx.Client, pids: list[int], parent: str, driver: str, shares: int,
              args: argparse.Namespace, samples: dict[str, dict[str, list[float]]]) -> None:
    for condition in CONDITIONS:
        if condition == "idle":
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
        else:
            cpu.ensure_parent(parent, shares if condition == "weights" else
                              cpu.DEFAULT_SHARES, driver)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        time.sleep(1.0)  # let the scheduler settle into the new mix
        try:
            for name, path in ENDPOINTS.items():
                samples[condition][name] += timed(http, path, args.requests, args.clients)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
    cpu.ensure_parent(parent, shares, driver)


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


def measure(settings: Settings, client: docker.DockerClient, args: argparse.Namespace,
            results: dict[str, Any]) -> None:
    image = build_spin_image(client, settings.base_image)
    try:
        say("starting 2 spinning Spaces")
        backend, pids = start_spinners(settings, client, image, 2)
        driver = str(client.info().get("CgroupDriver") or "cgroupfs")
        samples: dict[str, dict[str, list[float]]] = {
            c: {e: [] for e in ENDPOINTS} for c in CONDITIONS}
        http = login(settings)
        timed(http, "/", 3, 1)  # warm the API's first-request paths
        for n in range(args.rounds):
            say(f"round {n + 1}/{args.rounds} (load {loadavg()})")
            one_round(http, pids, settings.space_cgroup_parent, driver,
                      settings.space_cpu_shares, args, samples)
        http.close()
        results["latency"] = {c: {e: summary(v) for e, v in by.items()}
                              for c, by in samples.items()}
        for instance in backend.list_instances():
            backend.remove(instance)
            backend.remove_volume(SpaceId.parse(instance.space))
    finally:
        client.images.remove(image, force=True)


def main() -> int:
    from podium.services.up import start_platform

    parser = parser_for(__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20,
                        help="requests per client, endpoint, condition and round")
    parser.add_argument("--clients", type=int, default=1,
                        help="concurrent clients (one logged-in session shared)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, terminate)
    client = docker.from_env()
    parent = f"/podium-bench-{uuid.uuid4().hex[:8]}"
    results: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_before": loadavg(),
                               "rounds": args.rounds, "requests": args.requests,
                               "clients": args.clients}
    with tempfile.TemporaryDirectory(prefix="podium-cpu-") as tmp:
        settings = platform_settings(
            Path(tmp) / "data",
            space_cgroup_parent=parent, space_data_quota="64m", space_disk_quota="64m",
        )
        results |= {"space_cpu_shares": settings.space_cpu_shares,
                    "data_plane": settings.proxy_data_plane}
        say(f"starting the platform ({settings.instance}, port {settings.public_port})")
        started = start_platform(settings, demo=False, say=lambda m: say(m))
        try:
            measure(started.settings, client, args, results)
        finally:
            stop_platform(started, client, settings)
            for controller in Path("/sys/fs/cgroup").iterdir():
                group = controller / parent.strip("/")
                if group.is_dir():
                    group.rmdir()
    results["loadavg_after"] = loadavg()
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
