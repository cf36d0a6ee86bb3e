"""Builds with overlapping requirements, with and without the shared dependency cache
(builder/wheelhouse.py), in one run, as JSON. The issue-14 case: a gradio-hello Space with
`numpy pandas matplotlib`, then its requirements changed to `+ scipy` (a rebuild of the
requirements layer), then another Space with the same packages (a comment line makes its
requirements layer its own, as any other difference would: the fully warm cache). Each
mode has its own data dir (an empty wheelhouse) and its own images; the SDK layer is the
engine's cache in both; the incremental dependency layer is off in this mode.

    PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt .venv/bin/python bench/depcache.py

``--incremental [ROUNDS]``: the same three steps, all with the cache, with the incremental
dependency layer (builder/incremental.py) on and off, alternating for ROUNDS rounds (2 by
default) so both see the same load; each build's seconds are split into the platform's
part before the engine (plan, wheelhouse fill), sending the context, and each Dockerfile
step (bench/results/depcache-incr-2026-12-07.json).
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


UV_LINES = ("Resolved ", "Prepared ", "Installed ", "Uninstalled ", "Bytecode compiled ")


def split(marks: list[tuple[float, str]], total: float) -> dict[str, Any]:
    """Seconds from the build's start to the context, the context to the first step, and
    each step (its instruction's first 60 characters) to the next line after it."""
    starts = [(t, line) for t, line in marks if line.startswith("Step ")]
    context = next((t for t, line in marks if line.startswith("building ")), 0.0)
    steps, ends = [], [t for t, _ in starts[1:]] + [total]
    for (t, line), end in zip(starts, ends, strict=True):
        if end - t >= 0.05:
            steps.append([line.split(" : ", 1)[-1][:60], round(end - t, 2)])
    # uv's own lines inside its step: from the step's start to each (the rest of the step
    # after "Bytecode compiled" is the engine committing the layer).
    install = next((t for t, line in starts if "/tmp/podium/uv pip install" in line), None)
    uv = [[line[:60], round(t - install, 2)] for t, line in marks if install is not None
          and t >= install and line.startswith(UV_LINES)]
    return {"before_engine_s": round(context, 2),
            "context_s": round((starts[0][0] if starts else total) - context, 2),
            "steps_s": steps, "uv_install_s": uv}


def run_mode(client: docker.DockerClient, cache: bool, tmp: Path,
             incremental: int = 0, name: str = "") -> list[dict[str, Any]]:
    settings = Settings(data_dir=tmp / f"data-{cache}-{name}", dependency_cache=cache,
                        build_timeout=1800, incremental_dependencies=incremental)
    settings.ensure_dirs()
    ensure_isolated_network(client, settings.build_network)
    tag = uuid.uuid4().hex[:6]
    out, refs = [], []
    try:
        for label, space, requirements in STEPS:
            src = tmp / f"src-{cache}-{name}-{space}"
            if not src.exists():
                shutil.copytree(templates_dir(settings) / "gradio-hello", src)
            # A comment of this run's own: the engine's cache holds no earlier run's layers
            # (comments do not count as requirement lines, so the paths are unchanged).
            (src / "requirements.txt").write_text(f"# run {tag}\n{requirements}")
            lines: list[str] = []
            marks: list[tuple[float, str]] = []
            t0 = time.perf_counter()

            def log(_phase: Any, line: str, into: list[str] = lines,
                    at: list[tuple[float, str]] = marks, t0: float = t0) -> None:
                into.append(line)
                at.append((time.perf_counter() - t0, line))

            built = build_space_image(
                settings, client, SpaceId("bench", f"dep-{tag}-{space}"), src,
                uuid.uuid4().hex + "0" * 8, log)
            total = time.perf_counter() - t0
            refs.append(built.ref)
            out.append({"step": label, "build_s": round(total, 1),
                        "cache_note": next((x for x in lines if "dependency cache" in x), None),
                        "path": next((x for x in lines if x.startswith("dependencies: ")), None),
                        "load1": round(os.getloadavg()[0], 2), **split(marks, total)})
            print(f"cache={cache} {out[-1]}", file=sys.stderr, flush=True)
    finally:
        for ref in refs:
            client.images.remove(ref, force=True, noprune=True)
    return out


def incremental_main(rounds: int) -> int:
    """The incremental layer on and off, alternating, with the cache in both."""
    client = docker.from_env()
    result: dict[str, Any] = {"bench": "depcache-incr", "loadavg_start": os.getloadavg(),
                              "cpus": os.cpu_count(), "rounds": []}
    with tempfile.TemporaryDirectory(prefix="podium-depcache-") as tmp:
        for index in range(rounds):
            runs = {}
            for on in (True, False):
                mode = "incremental" if on else "full"
                runs[mode] = run_mode(client, True, Path(tmp), 3 if on else 0,
                                      f"{mode}-{index}")
            result["rounds"].append(runs)
    scipy = [(r["incremental"][1]["build_s"], r["full"][1]["build_s"]) for r in result["rounds"]]
    result["plus_scipy_incremental_over_full"] = [round(a / b, 2) for a, b in scipy]
    result["loadavg_end"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--incremental"]:
        return incremental_main(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
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
