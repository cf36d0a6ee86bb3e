"""Proxy benchmark: Podium's proxy with each data plane (the Python proxy alone; nginx-lua:
nginx with routes from the route table in its shared memory, the Python proxy behind it),
1 and 2 worker processes, vs a bare nginx
(a static config, no Podium logic: the floor) vs no proxy, all on loopback against the
same real upstream (podium.proxy.testing, one process). Prints one JSON document.

    .venv/bin/python bench/proxy.py [--duration 4] [--rounds 3] [--conns 1,16,64]
                                    [--wrk-cpu N|-1] [--no-nginx] [--workers 1,2]
                                    [--baseline CHECKOUT]

``--baseline`` adds the same planes from another checkout of Podium (its ``platform/`` on
PYTHONPATH, e.g. ``git worktree add /tmp/before <commit>``), interleaved with this one's in
the same rounds: a before/after comparison in one run.

Fairness on a small shared machine: wrk, the upstream and the proxy share the cores, and
"direct" gives the upstream the CPU the proxy otherwise takes. So every target is measured
with the same wrk settings against the same upstream process, wrk pinned to one core
(--wrk-cpu, default the last; -1 leaves it unpinned), targets interleaved within each
round so that load from other users hits all of them alike, and the ratio to direct is
the median of per-round ratios. CPU used by wrk, the upstream and the target during each
run is reported (cores busy, and the target's CPU microseconds per request), because on
two cores the target's throughput is bounded by what the others leave it.

Needs wrk and redis-server (nginx optional): apt-get install -y wrk nginx-light redis-server.
Bounded: every run lasts --duration seconds; every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psutil
import redis
from websockets.asyncio.client import connect

from podium.names import SpaceId
from podium.proxy.plane.nginx import lua_modules
from podium.proxy.testing import free_port
from podium.routes import Route, RouteTable
from podium.services.redis_server import EmbeddedRedis
from podium.spaces.stage import Sdk, Stage

DOMAIN = "bench.test"
SPACE = SpaceId("bench", "kb")
NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream space {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    # An empty Connection keeps upstream connections alive (keepalive pool) for plain HTTP.
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://space;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[int]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (uvicorn or nginx workers)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
    except psutil.NoSuchProcess:
        pass
    return total


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


def wrk(url: str, host: str, conns: int, duration: int, cpu: int | None,
        watch: dict[str, int] | None = None, headers: tuple[str, ...] = ()) -> dict[str, float]:
    """One wrk run; ``watch`` names processes whose CPU use during the run is reported."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    watch = watch or {}
    before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [*pin, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-H", f"Host: {host}",
         *(arg for h in headers for arg in ("-H", h)), url],
        capture_output=True, text=True, check=True, timeout=duration + 30,
    ).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    cores = {name: round((cpu_seconds(pid) - before[name]) / wall, 2)
             for name, pid in watch.items()}
    cores["wrk"] = round((after.ru_utime + after.ru_stime - children.ru_utime
                          - children.ru_stime) / wall, 2)
    result: dict[str, object] = {
        "rps": round(rps), "p50_ms": round(_ms(p50), 3), "p99_ms": round(_ms(p99), 3),
        "non_2xx": int(errors.group(1)) if errors else 0, "cpu_cores": cores,
    }
    if "target" in cores and rps:
        result["target_cpu_us_per_req"] = round(cores["target"] * 1e6 / rps, 1)
    if "upstream" in cores and rps:
        result["upstream_cpu_us_per_req"] = round(cores["upstream"] * 1e6 / rps, 1)
    return result  # type: ignore[return-value]


def sse_first_event(url: str, host: str, samples: int = 20) -> dict[str, float]:
    times = []
    with httpx.Client(headers={"host": host}, timeout=10) as client:
        for _ in range(samples):
            start = time.perf_counter()
            with client.stream("GET", url + "/sse?n=3&interval=0.05") as resp:
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        times.append(time.perf_counter() - start)
                        break
    return _summary(times)


def ws_round_trip(port: int, host: str, path: str, samples: int = 500) -> dict[str, float]:
    async def run() -> list[float]:
        times = []
        async with connect(f"ws://{host}{path}", host="127.0.0.1", port=port, proxy=None) as ws:
            for i in range(samples):
                start = time.perf_counter()
                await ws.send(f"ping {i}")
                await ws.recv()
                times.append(time.perf_counter() - start)
        return times

    return _summary(asyncio.run(run()))


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": round(statistics.median(ordered) * 1e3, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3, 3),
            "samples": len(ordered)}


def _median_run(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run with the median rps, plus every round's rps (so spread is visible)."""
    ordered = sorted(runs, key=lambda r: r["rps"])  # type: ignore[arg-type, return-value]
    return {**ordered[len(ordered) // 2], "rps_rounds": [r["rps"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conns", default="1,16,64")
    parser.add_argument("--wrk-cpu", type=int, default=(os.cpu_count() or 1) - 1,
                        help="core to pin wrk to (taskset); -1: unpinned")
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--workers", default="1,2", help="worker counts of each plane")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout whose planes run beside this one's")
    args = parser.parse_args()
    conns = [int(c) for c in args.conns.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    wrk_cpu = args.wrk_cpu if args.wrk_cpu >= 0 and shutil.which("taskset") else None
    use_nginx = not args.no_nginx and shutil.which("nginx") is not None
    # The nginx-lua plane (routes in nginx's shared memory) needs libnginx-mod-http-lua.
    use_lua = use_nginx and lua_modules("nginx") is not None
    py = sys.executable
    results: dict[str, object] = {
        "cpus": os.cpu_count(), "duration_s": args.duration, "rounds": args.rounds,
        "wrk_cpu": wrk_cpu, "loadavg_before": os.getloadavg()[0],
        "baseline": str(args.baseline) if args.baseline else None,
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        server = stack.enter_context(EmbeddedRedis(Path(tmp) / "redis"))
        up_port = free_port()
        up_pid = stack.enter_context(
            process([py, "-m", "podium.proxy.testing", "--port", str(up_port)]))
        wait_port(up_port)
        RouteTable(redis.Redis.from_url(server.url)).put(Route.for_space(
            SPACE, upstream=f"http://127.0.0.1:{up_port}", sdk=Sdk.DOCKER, stage=Stage.RUNNING))
        space_host = SPACE.hostname(DOMAIN)

        # name -> (port, Host header, pid of the target's process tree or None)
        targets: dict[str, tuple[int, str, int | None]] = {
            "direct": (up_port, f"127.0.0.1:{up_port}", None)}
        # Podium's proxy as `podium proxy` runs it: the Python proxy alone, and nginx driven
        # from the route table in front of it (the default data plane).
        counts = [int(w) for w in args.workers.split(",")]
        planes = [(plane, w) for plane in ("python", *(["nginx-lua"] if use_lua else []))
                  for w in counts]
        builds = [("podium", None)] + (
            [("baseline", args.baseline / "platform")] if args.baseline else [])
        for (label, source), (plane, workers) in (
                (b, p) for b in builds for p in planes):
            port = free_port()
            env = {**os.environ, "PODIUM_REDIS_URL": server.url, "PODIUM_DOMAIN": DOMAIN,
                   "PODIUM_PUBLIC_PORT": str(port), "PODIUM_PROXY_HOST": "127.0.0.1",
                   "PODIUM_DATA_DIR": f"{tmp}/data-{label}",
                   "PODIUM_API_PORT": str(free_port()), "PODIUM_PROXY_DATA_PLANE": plane}
            if source is not None:
                env["PYTHONPATH"] = str(source)
            pid = stack.enter_context(process(
                [py, "-m", "podium.proxy", "--workers", str(workers)], env))
            targets[f"{label}_{plane}_w{workers}"] = (port, f"{space_host}:{port}", pid)
        if use_nginx:
            for workers in counts:
                port = free_port()
                ndir = Path(tmp) / f"nginx{workers}"
                ndir.mkdir()
                conf = ndir / "nginx.conf"
                conf.write_text(NGINX_CONF.format(tmp=ndir, upstream=up_port, port=port,
                                                  workers=workers))
                pid = stack.enter_context(process(["nginx", "-c", str(conf), "-p", str(ndir)]))
                targets[f"bare_nginx_w{workers}"] = (port, f"{space_host}:{port}", pid)
        for port, _, _ in targets.values():
            wait_port(port)

        runs: dict[str, dict[str, list[dict[str, object]]]] = {
            name: {f"c{c}": [] for c in conns} for name in targets}
        for port, host, _ in targets.values():
            wrk(f"http://127.0.0.1:{port}/kb", host, 16, 1, wrk_cpu)  # warm pools and caches
        for _ in range(args.rounds):
            for c in conns:
                # Interleaved: each target's run sits next to direct's in time.
                for name, (port, host, pid) in targets.items():
                    watch = {"upstream": up_pid, **({"target": pid} if pid else {})}
                    runs[name][f"c{c}"].append(wrk(
                        f"http://127.0.0.1:{port}/kb", host, c, args.duration, wrk_cpu, watch))
        for name, (port, host, _) in targets.items():
            url = f"http://127.0.0.1:{port}"
            results[name] = {
                "kb": {key: _median_run(rs) for key, rs in runs[name].items()},
                "sse_first_event": sse_first_event(url, host),
                "ws_round_trip": ws_round_trip(port, host, "/ws"),
            }
        results["ratio_rps_vs_direct"] = {
            name: {key: round(statistics.median(
                r["rps"] / d["rps"]  # type: ignore[operator]
                for r, d in zip(runs[name][key], runs["direct"][key], strict=True)), 2)
                for key in runs[name]}
            for name in targets if name != "direct"
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
