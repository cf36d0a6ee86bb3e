"""Builds with overlapping requirements, with and without the shared dependency cache
(builder/wheelhouse.py), in one run, as JSON. The issue-14 case: a gradio-hello Space with
`numpy pandas matplotlib`, then its requirements changed to `+ scipy` (a rebuild of the
requirements layer), then another Space with the same packages (a comment line makes its
requirements layer its own, as any other difference would: the fully warm cache). Each
mode has its own data dir (an empty wheelhouse) and its own images; the SDK layer is the
engine's cache in both.

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/depcache.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from podium.bridges import ensure_isolated_network
from podium.builder.build import build_space_image
from podium.config import Settings
from podium.names import SpaceId
from podium.resources import templates_dir

STEPS = [
    ("first: numpy pandas matplotlib", "a", "numpy\npandas\nmatplotlib\n"),
    ("same Space: + scipy", "a", "numpy\npandas\nmatplotlib\nscipy\n"),
    ("another Space: the same four", "b", "# another Space\nnumpy\npandas\nmatplotlib\nscipy\n"),
]


def run_mode(client: docker.DockerClient, cache: bool, tmp: Path) -> list[dict[str, Any]]:
    settings = Settings(data_dir=tmp / f"data-{cache}", dependency_cache=cache,
                        build_timeout=1800)
    settings.ensure_dirs()
    ensure_isolated_network(client, settings.build_network)
    tag = uuid.uuid4().hex[:6]
    out, refs = [], []
    try:
        for label, space, requirements in STEPS:
            src = tmp / f"src-{cache}-{space}"
            if not src.exists():
                shutil.copytree(templates_dir(settings) / "gradio-hello", src)
            (src / "requirements.txt").write_text(requirements)
            lines: list[str] = []
            t0 = time.perf_counter()
            built = build_space_image(
                settings, client, SpaceId("bench", f"dep-{tag}-{space}"), src,
                uuid.uuid4().hex + "0" * 8, lambda _p, line, into=lines: into.append(line))
            refs.append(built.ref)
            out.append({"step": label, "build_s": round(time.perf_counter() - t0, 1),
                        "cache_note": next((x for x in lines if "dependency cache" in x), None)})
            print(f"cache={cache} {out[-1]}", file=sys.stderr, flush=True)
    finally:
        for ref in refs:
            client.images.remove(ref, force=True, noprune=True)
    return out


def main() -> int:
    client = docker.from_env()
    result: dict[str, Any] = {"bench": "depcache", "loadavg_start": os.getloadavg(),
                              "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="podium-depcache-") as tmp:
        for cache in (True, False):  # the cache first: its figures are the target
            result["with_cache" if cache else "without_cache"] = run_mode(
                client, cache, Path(tmp))
    result["loadavg_end"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
