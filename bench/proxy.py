"""Proxy benchmark: the Python ASGI data plane (1 and 2 uvicorn workers) vs nginx vs no
proxy, all on loopback against the same real upstream (podium.proxy.testing in its own
process). Prints one JSON document.

    .venv/bin/python bench/proxy.py [--duration 5] [--conns 1,16,64] [--no-nginx]

Needs wrk and redis-server (nginx optional): apt-get install -y wrk nginx-light redis-server.
Bounded: every run lasts --duration seconds; every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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
import redis
from podium.names import SpaceId
from podium.proxy.routes import Route, RouteTable
from podium.proxy.testing import free_port
from podium.services.redis_server import EmbeddedRedis
from podium.spaces.stage import Sdk, Stage
from websockets.asyncio.client import connect

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
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


def wrk(url: str, host: str, conns: int, duration: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", "-H", f"Host: {host}", url],
        capture_output=True, text=True, check=True, timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": round(rps), "p50_ms": round(_ms(p50), 3), "p99_ms": round(_ms(p99), 3),
            "non_2xx": int(errors.group(1)) if errors else 0}


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--conns", default="1,16,64")
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()
    conns = [int(c) for c in args.conns.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    use_nginx = not args.no_nginx and shutil.which("nginx") is not None
    py = sys.executable
    results: dict[str, object] = {"cpus": os.cpu_count(), "duration_s": args.duration,
                                  "loadavg_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        server = stack.enter_context(EmbeddedRedis(Path(tmp) / "redis"))
        up_port = free_port()
        stack.enter_context(process([py, "-m", "podium.proxy.testing", "--port", str(up_port)]))
        wait_port(up_port)
        RouteTable(redis.Redis.from_url(server.url)).put(Route.for_space(
            SPACE, upstream=f"http://127.0.0.1:{up_port}", sdk=Sdk.DOCKER, stage=Stage.RUNNING))
        space_host = SPACE.hostname(DOMAIN)

        targets: dict[str, tuple[int, str]] = {"direct": (up_port, f"127.0.0.1:{up_port}")}
        for workers in (1, 2):
            port = free_port()
            env = {**os.environ, "PODIUM_REDIS_URL": server.url, "PODIUM_DOMAIN": DOMAIN,
                   "PODIUM_PUBLIC_PORT": str(port), "PODIUM_PROXY_HOST": "127.0.0.1",
                   "PODIUM_DATA_DIR": f"{tmp}/data", "PODIUM_API_PORT": str(free_port())}
            stack.enter_context(process(
                [py, "-m", "podium.proxy", "--workers", str(workers)], env))
            targets[f"podium_w{workers}"] = (port, f"{space_host}:{port}")
        if use_nginx:
            for workers in (1, 2):
                port = free_port()
                ndir = Path(tmp) / f"nginx{workers}"
                ndir.mkdir()
                conf = ndir / "nginx.conf"
                conf.write_text(NGINX_CONF.format(tmp=ndir, upstream=up_port, port=port,
                                                  workers=workers))
                stack.enter_context(process(["nginx", "-c", str(conf), "-p", str(ndir)]))
                targets[f"nginx_w{workers}"] = (port, f"{space_host}:{port}")
        for port, _ in targets.values():
            wait_port(port)

        for name, (port, host) in targets.items():
            url = f"http://127.0.0.1:{port}"
            wrk(url + "/kb", host, 16, 1)  # warm pools and caches
            results[name] = {
                "kb": {f"c{c}": wrk(url + "/kb", host, c, args.duration) for c in conns},
                "sse_first_event": sse_first_event(url, host),
                "ws_round_trip": ws_round_trip(port, host, "/ws"),
            }
        direct = results["direct"]["kb"]  # type: ignore[index]
        results["ratio_rps_vs_direct"] = {
            name: {c: round(results[name]["kb"][c]["rps"] / direct[c]["rps"], 2)  # type: ignore[index]
                   for c in direct}
            for name in targets if name != "direct"
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
