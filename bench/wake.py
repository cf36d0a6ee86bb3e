"""Wake time of a sleeping Space: from ``Scheduler.wake`` to the first HTTP 200, printed as
JSON. Compares the three ways to wake:

- thaw:    the container frozen by a light sleep is unfrozen (cgroup freezer);
- restart: ``docker start`` of a stopped container (its filesystem kept, the app starts
  again);
- fresh:   a new container from the image (what a wake after a deep sleep does).

Each is split into the engine's part (create/start) and the app's part (start until it
answers), and the Gradio case also reports how long ``import gradio`` takes in the image,
which bounds any wake from above.

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/wake.py \
        [--rounds 3] [--no-gradio]

(the Gradio image is built with ``build_space_image``: behind a TLS-intercepting proxy pip
needs the CA bundle, as for any build.)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import httpx
import redis
from images import build_from_files  # bench/images.py, beside this script

from podium.config import Settings
from podium.errors import PodiumError
from podium.names import SpaceId
from podium.resources import templates_dir
from podium.routes import RouteTable
from podium.scheduler.base import Instance
from podium.scheduler.docker import DockerBackend
from podium.scheduler.service import Scheduler
from podium.scheduler.spec import RunSpec
from podium.services.redis_server import EmbeddedRedis

HTTP_APP = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
http.server.ThreadingHTTPServer(("0.0.0.0", 7860), H).serve_forever()
"""


class TimedBackend(DockerBackend):
    """Records how long the engine's part and the app's part of each wake take."""

    timings: dict[str, float]

    @contextmanager
    def _timed(self, part: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[part] = time.perf_counter() - t0

    def start(self, spec: RunSpec) -> Instance:
        with self._timed("engine_s"):
            return super().start(spec)

    def resume(self, instance: Instance) -> Instance:
        with self._timed("engine_s"):
            return super().resume(instance)

    def thaw(self, instance: Instance) -> Instance:
        with self._timed("engine_s"):
            return super().thaw(instance)

    def wait_healthy(self, instance: Instance, timeout: float) -> None:
        with self._timed("app_s"):
            super().wait_healthy(instance, timeout)


def build_http_image(client: docker.DockerClient, base: str) -> str:
    ref = f"podium-bench/wake-http:{uuid.uuid4().hex[:8]}"
    files = {
        "Dockerfile": f'FROM {base}\nCOPY app.py /app.py\nCMD ["python3", "-u", "/app.py"]\n',
        "app.py": HTTP_APP,
    }
    return build_from_files(client, ref, files)


def build_gradio_image(settings: Settings, client: docker.DockerClient, space: SpaceId) -> str:
    from podium.bridges import ensure_isolated_network
    from podium.builder.build import build_space_image

    ensure_isolated_network(client, settings.build_network)  # as the build job does
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(templates_dir(settings) / "gradio-hello", src)
        built = build_space_image(
            settings, client, space, src, "b" * 40, lambda _phase, _line: None
        )
    return built.ref


def measure(
    sched: Scheduler, backend: TimedBackend, spec: RunSpec, rounds: int
) -> dict[str, Any]:
    sched.deploy(spec)
    out: dict[str, Any] = {}
    with httpx.Client(timeout=5, trust_env=False) as http:
        for mode in ("thaw", "restart", "fresh"):
            # fresh: what the scheduler does after a deep sleep (freeze_s=0 goes there at once)
            sched.freeze_s = 0.0 if mode == "fresh" else 3600.0
            runs = []
            for _ in range(rounds):
                assert sched.sleep(spec.key)
                if mode == "restart":  # stop the frozen container, keep it for the wake
                    for instance in backend.list_instances(spec.key):
                        backend.stop(instance)
                backend.timings = {}
                t0 = time.perf_counter()
                instance = sched.wake(spec.key)
                assert instance is not None and instance.upstream
                while http.get(instance.upstream).status_code != 200:
                    time.sleep(0.01)
                runs.append({"total_s": round(time.perf_counter() - t0, 3),
                             **{k: round(v, 3) for k, v in backend.timings.items()}})
            out[mode] = {
                "median_total_s": round(statistics.median(r["total_s"] for r in runs), 3),
                "median_engine_s": round(statistics.median(r["engine_s"] for r in runs), 3),
                "median_app_s": round(statistics.median(r["app_s"] for r in runs), 3),
                "runs": runs,
            }
    sched.remove(spec.key, delete_volume=True)
    return out


def import_time(client: docker.DockerClient, image: str, module: str) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    # Twice: the first run also pays a cold page cache, the second is what a wake sees.
    for _ in range(2):
        raw = client.containers.run(image, ["python", "-c", code], remove=True,
                                    network_mode="none")
    return round(float(raw.decode().strip().splitlines()[-1]), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-gradio", action="store_true")
    args = parser.parse_args()
    client = docker.from_env()
    results: dict[str, Any] = {"rounds": args.rounds}
    images: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        settings = Settings(data_dir=Path(tmp) / "data")
        settings.ensure_dirs()
        conn = redis.Redis.from_url(server.url)
        backend = TimedBackend(settings, client, scope=f"bench-{uuid.uuid4().hex[:8]}",
                               poll_s=0.02)
        backend.timings = {}
        sched = Scheduler(settings, backend, RouteTable(conn), conn, drain_s=0)
        try:
            http_image = build_http_image(client, settings.base_image)
            images.append(http_image)
            spec = RunSpec.for_space(settings, SpaceId("bench", "wake-http"), http_image,
                                     app_port=7860, sdk="static", commit="a" * 40)
            results["python_http"] = measure(sched, backend, spec, args.rounds)
            if not args.no_gradio:
                space = SpaceId("bench", "wake-gradio")
                t0 = time.perf_counter()
                try:
                    gradio_image = build_gradio_image(settings, client, space)
                except PodiumError as err:
                    results["gradio_error"] = err.message
                    raise SystemExit(_dump(results, 1)) from None
                images.append(gradio_image)
                results["gradio_build_s"] = round(time.perf_counter() - t0, 1)
                results["gradio_import_s"] = import_time(client, gradio_image, "gradio")
                spec = RunSpec.for_space(settings, space, gradio_image, app_port=7860,
                                         sdk="gradio", commit="b" * 40)
                results["gradio_hello"] = measure(sched, backend, spec, args.rounds)
        finally:
            for instance in backend.list_instances():
                backend.remove(instance)
            for ref in images:
                client.images.remove(ref, force=True)
            conn.close()
    return _dump(results, 0)


def _dump(results: dict[str, Any], code: int) -> int:
    json.dump(results, sys.stdout, indent=2)
    print()
    return code


if __name__ == "__main__":
    sys.exit(main())
