"""What the metrics cost, printed as JSON:

- scrape: rendering ``GET /metrics`` (podium.metrics.exporter's collector over a real
  embedded Redis and a SQLite store) with 10, 100 and 1000 Spaces, each with request series
  in every status class, a request histogram and a usage sample; median of the rounds and
  the exposition's size;
- access log: what the proxy's once-a-second read adds for the metrics, parsing a second's
  worth of nginx lines (1k, 10k) into a batch and sending it in one pipeline;
- engine stats: one container's ``stats`` call with ``one-shot`` (what the scheduler's
  sampler uses) against the default, which waits for a second CPU sample (needs a running
  container: ``--container ID``).

    .venv/bin/python bench/metrics.py [--rounds 20] [--container ID]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from prometheus_client import generate_latest

from podium.config import Settings
from podium.metrics.events import access_lines
from podium.metrics.exporter import registry
from podium.metrics.recorder import Recorder
from podium.names import SpaceId
from podium.services.redis_server import EmbeddedRedis
from podium.store import Database, create_space

STATUSES = (b"200", b"304", b"404", b"502")


def lines_for(spaces: list[str], count: int) -> list[bytes]:
    rng = random.Random(7)
    return [f"{rng.choice(spaces)} ".encode() + rng.choice(STATUSES)
            + f" {rng.random() * 0.2:.3f}".encode() for _ in range(count)]


def scrape(tmp: Path, conn: redis.Redis, url: str, spaces: int, rounds: int) -> dict[str, Any]:
    conn.flushall()
    settings = Settings(data_dir=tmp / f"data-{spaces}", redis_url=url, database_url="")
    settings.ensure_dirs()
    db = Database(settings)
    db.migrate()
    keys = []
    with db.session() as session:
        for index in range(spaces):
            space_id = SpaceId(f"user{index % 50}", f"space{index}")
            create_space(session, space_id, sdk="gradio")
            keys.append(space_id.key)
    recorder = Recorder(conn)
    recorder.send(access_lines(lines_for(keys, spaces * 20)))
    recorder.put_usage({key: (12.0, 1e8) for key in keys}, forget_after=60)
    reg = registry(settings, conn, db)
    times = []
    size = 0
    for _ in range(rounds):
        began = time.perf_counter()
        size = len(generate_latest(reg))
        times.append(time.perf_counter() - began)
    db.dispose()
    return {"spaces": spaces, "median_ms": round(statistics.median(times) * 1000, 2),
            "max_ms": round(max(times) * 1000, 2), "bytes": size}


def access(conn: redis.Redis, per_second: int, rounds: int) -> dict[str, Any]:
    keys = [f"user/space{index}" for index in range(100)]
    lines = lines_for(keys, per_second)
    recorder = Recorder(conn)
    parse, send = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        batch = access_lines(lines)
        parsed = time.perf_counter()
        recorder.send(batch)
        parse.append(parsed - began)
        send.append(time.perf_counter() - parsed)
    return {"lines": per_second, "spaces": len(keys),
            "parse_ms": round(statistics.median(parse) * 1000, 2),
            "send_ms": round(statistics.median(send) * 1000, 2)}


def engine_stats(container: str, rounds: int) -> dict[str, Any]:
    import docker

    client = docker.from_env()
    out: dict[str, Any] = {"container": container[:12]}
    for name, one_shot in (("one_shot", True), ("two_samples", False)):
        times = []
        for _ in range(rounds if one_shot else 3):
            began = time.perf_counter()
            client.api.stats(container, stream=False, one_shot=one_shot)
            times.append(time.perf_counter() - began)
        out[f"{name}_median_ms"] = round(statistics.median(times) * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--container", help="a running container for the engine stats part")
    args = parser.parse_args()
    result: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="podium-bench-metrics-") as tmp, \
            EmbeddedRedis(Path(tmp) / "redis") as server:
        conn = redis.Redis.from_url(server.url)
        result["scrape"] = [scrape(Path(tmp), conn, server.url, n, args.rounds)
                            for n in (10, 100, 1000)]
        result["access_log"] = [access(conn, n, args.rounds) for n in (1000, 10_000)]
    if args.container:
        result["engine_stats"] = engine_stats(args.container, args.rounds)
    result["loadavg_after"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
