"""The Swarm backend against the single-host docker backend, side by side in one run, on
the one-machine test cluster (tests/cluster/hosts.py; root). Prints JSON:

- deploy -> live: Scheduler.deploy to the first healthy answer, docker backend on this host
  vs swarm backend on a node (cold: first push and pull; warm: image already on the node);
- wake from zero: Scheduler.sleep (deep: the container / service removed) then wake;
- node loss -> serving again: a worker's engine stopped, until every Space on it serves
  again from another node (shared-storage /data, so they may move);
- rps through the nginx-lua data plane (podium proxy) at c=64, to a local container vs
  to a task on a node, interleaved rounds (wrk).

    .venv/bin/python bench/cluster.py [--cluster .dev/cluster] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import docker
import httpx
import redis
from images import build_from_files  # bench/images.py, beside this script
from proxy import process, wait_port, wrk  # bench/proxy.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from podium.config import Settings  # noqa: E402
from podium.names import SpaceId  # noqa: E402
from podium.proxy.testing import ProxyStandIn, free_port  # noqa: E402
from podium.routes import Route, RouteTable  # noqa: E402
from podium.scheduler import get_backend  # noqa: E402
from podium.scheduler.events import watch  # noqa: E402
from podium.scheduler.service import Scheduler  # noqa: E402
from podium.scheduler.spec import RunSpec  # noqa: E402
from podium.services.redis_server import EmbeddedRedis  # noqa: E402
from podium.spaces.stage import Sdk, Stage  # noqa: E402
from tests.cluster import hosts  # noqa: E402
from tests.integration.test_scheduler import APP  # noqa: E402

DOCKERFILE = """FROM podium/base:bookworm
USER root
RUN install -d -o 1000 -g 1000 /data
USER user
COPY app.py /app/app.py
WORKDIR /app
CMD ["python3", "-u", "/app/app.py"]
"""
SHARED = "type=tmpfs,device=tmpfs,o=uid=1000"


def spec(settings: Settings, image: str) -> RunSpec:
    return RunSpec.for_space(settings, SpaceId(f"b{uuid.uuid4().hex[:8]}", "bench"), image,
                             app_port=7860, sdk="static", commit="c1", memory="256m",
                             startup_timeout=120.0, cpus=1.0)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    fn()
    return round(time.monotonic() - began, 3)


def serves(upstream: str | None) -> bool:
    try:
        return bool(upstream) and httpx.get(f"{upstream}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def lifecycle(sched: Scheduler, image: str, rounds: int) -> dict[str, object]:
    deploys, wakes = [], []
    for _ in range(rounds):
        s = spec(sched.settings, image)
        deploys.append(timed(lambda s=s: sched.deploy(s)))  # type: ignore[misc]
        sched.sleep(s.key)
        wakes.append(timed(lambda s=s: sched.wake(s.key)))  # type: ignore[misc]
    return {"deploy_to_live_s": deploys, "deploy_median_s": statistics.median(deploys),
            "wake_from_zero_s": wakes, "wake_median_s": statistics.median(wakes)}


def node_loss(cluster: hosts.Cluster, sched: Scheduler, image: str) -> dict[str, object]:
    stop = threading.Event()
    threading.Thread(target=watch, args=(sched, stop), daemon=True).start()
    specs = [spec(sched.settings, image) for _ in range(4)]
    upstreams = {s.key: sched.deploy(s).upstream for s in specs}
    lost = next(n for n in cluster.nodes[1:]
                if any(f"//{n.addr}:" in (u or "") for u in upstreams.values()))
    moved = [k for k, u in upstreams.items() if f"//{lost.addr}:" in (u or "")]
    # From the SIGTERM: the engine's own shutdown (its tasks stopped, seconds) is part of the
    # loss; the swarm may move the tasks before the engine is gone.
    began = time.monotonic()
    hosts.stop_engine(lost)
    stopped = round(time.monotonic() - began, 2)
    while time.monotonic() - began < 180:
        routes = [sched.routes.get(k) for k in moved]
        if all(r and r.upstream and f"//{lost.addr}:" not in r.upstream and serves(r.upstream)
               for r in routes):
            break
        time.sleep(0.25)
    took = round(time.monotonic() - began, 2)
    stop.set()
    hosts.start_engine(cluster, lost)
    return {"spaces_on_lost_node": len(moved), "serving_again_s": took,
            "engine_stop_s": stopped}


def proxy_rps(local: str, remote: str, rounds: int) -> dict[str, object]:
    """Two routes in one route table, one nginx-lua plane; wrk c=64 to each, interleaved."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        server = stack.enter_context(EmbeddedRedis(Path(tmp) / "redis"))
        table = RouteTable(redis.Redis.from_url(server.url))
        ids = {"local": SpaceId("bench", "local"), "remote": SpaceId("bench", "remote")}
        for name, upstream in (("local", local), ("remote", remote)):
            table.put(Route.for_space(ids[name], upstream=upstream, sdk=Sdk.DOCKER,
                                      stage=Stage.RUNNING))
        port = free_port()
        env = {**os.environ, "PODIUM_REDIS_URL": server.url, "PODIUM_DOMAIN": "bench.test",
               "PODIUM_PUBLIC_PORT": str(port), "PODIUM_PROXY_HOST": "127.0.0.1",
               "PODIUM_DATA_DIR": f"{tmp}/data", "PODIUM_API_PORT": str(free_port()),
               "PODIUM_PROXY_DATA_PLANE": "nginx-lua"}
        stack.enter_context(process([sys.executable, "-m", "podium.proxy", "--workers", "1"],
                                    env))
        wait_port(port)
        runs: dict[str, list[dict[str, object]]] = {"local": [], "remote": []}
        for _ in range(rounds):
            for name, space in ids.items():
                runs[name].append(wrk(f"http://127.0.0.1:{port}/", f"{space.hostname('bench.test')}"
                                      f":{port}", 64, 4, None))
        return {name: {"rps_median": statistics.median(r["rps"] for r in rs),  # type: ignore[misc]
                       "runs": rs} for name, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cluster", type=Path, default=None, help="a ./dev cluster state dir")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, object] = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count()}
    # The folder outlives the stack: the cluster's engines keep mounts under it until down.
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        cluster = hosts.Cluster.load(args.cluster.resolve()) if args.cluster else None
        if cluster is None:
            state = Path(tmp) / "cluster"
            cluster = hosts.up(state)
            stack.callback(hosts.down, state)
        results["cluster_up_s"] = cluster.up_seconds
        client = docker.from_env()
        image = build_from_files(client, f"podium-bench/cluster:{uuid.uuid4().hex[:8]}",
                                 {"Dockerfile": DOCKERFILE, "app.py": APP})
        stack.callback(client.images.remove, image, force=True)
        redis_server = stack.enter_context(EmbeddedRedis(Path(tmp) / "redis"))
        conn = redis.Redis.from_url(redis_server.url)
        base = Settings(data_dir=Path(tmp) / "data", redis_url="", database_url="",
                        space_data_quota="0", space_disk_quota="0", space_cgroup_parent="",
                        instance=f"bench{uuid.uuid4().hex[:6]}")
        swarm_settings = base.model_copy(update={
            "scheduler_backend": "swarm", "swarm_host": cluster.manager.socket,
            "registry": cluster.registry, "registry_push": cluster.push_registry,
            "swarm_volume_options": SHARED})
        scheds = {
            "docker_local": Scheduler(base, get_backend(base), ProxyStandIn(conn), conn,
                                      drain_s=0.2, freeze_s=0),
            "swarm_node": Scheduler(swarm_settings, get_backend(swarm_settings),
                                    ProxyStandIn(conn), conn, drain_s=0.2),
        }
        for sched in scheds.values():
            stack.callback(lambda b=sched.backend: [b.remove(i) for i in b.list_instances()])
        for name, sched in scheds.items():
            results[name] = lifecycle(sched, image, args.rounds)
        local = scheds["docker_local"].deploy(spec(base, image)).upstream
        remote = scheds["swarm_node"].deploy(spec(swarm_settings, image)).upstream
        results["proxy_c64"] = proxy_rps(str(local), str(remote), args.rounds)
        results["node_loss"] = node_loss(cluster, scheds["swarm_node"], image)
    results["loadavg_after"] = os.getloadavg()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
