"""Code-only push with the warm standby (scheduler/warm.py) on and off, side by side: two
platforms run at once (``standby_window`` 900 and 0), each with its demo Space, and their
code-only pushes alternate (on, off, off, on, ...) so both see the same machine load. Before
every push both Spaces are settled (RUNNING, one serving container) and the standby side's
standby is made and frozen (its SDK import must not land in either side's timing; a push
minutes after the last one finds it so). One untimed push first on each:
the standby is made after a Space's second deploy.

    .venv/bin/python bench/push.py --kinds code --standby both [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from harness import EngineEvents, platform_settings, say, stop_platform
from push_platform import Bench, Watcher, attempt, summarize

from podium.names import SpaceId
from podium.spaces.stage import Stage

SIDES = (("standby_on", 900), ("standby_off", 0))


@dataclass
class Side:
    name: str
    bench: Bench
    space: SpaceId
    watcher: Watcher
    events: EngineEvents
    work: Path


def _start(stack: ExitStack, name: str, window: int, root: Path, client: docker.DockerClient,
           cgroup_parent: str, token_for: Any) -> Side:
    from podium.services.up import start_platform

    settings = platform_settings(root / name, space_cgroup_parent=cgroup_parent,
                                 standby_window=window)
    say(f"{name}: starting a platform ({settings.instance})")
    started = start_platform(settings, demo=True, say=lambda m: say(f"{name}: {m}"))
    stack.callback(stop_platform, started, client, settings)
    bench = Bench(started, client, token_for(started.settings))
    stack.callback(bench.close)
    watcher = stack.enter_context(Watcher(bench.settings, bench.platform))
    events = stack.enter_context(EngineEvents(client, settings.instance))
    watcher.spaces.add(started.demo)
    return Side(name, bench, started.demo, watcher, events, root / f"{name}-hello")


def _ready(side: Side, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while side.watcher.last_value(side.space.key, "stage") != Stage.RUNNING:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{side.name}: the demo Space never ran")
        time.sleep(1)
    side.bench.git(side.work.parent, "clone", "-q", side.bench.remote(side.space),
                   str(side.work))


def _standby_frozen(side: Side, timeout: float) -> None:
    """Until the Space's standby is made and frozen (its thread starts it only once the
    deploy returned, so a settled Space may not have one yet): a push minutes after the
    last one, as a developer makes them, finds it so."""
    deadline = time.monotonic() + timeout
    labels = [f"podium.scope={side.bench.settings.instance}",
              f"podium.space_key={side.space.key}", "podium.standby"]
    while time.monotonic() < deadline:
        found = side.bench.client.containers.list(filters={"label": labels})
        if any(c.status == "paused" for c in found):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{side.name}: no frozen standby")


def _push(side: Side, round_no: int, sides: list[Side]) -> dict[str, Any]:
    for other in sides:  # both quiet: no start, drain or standby import under way
        other.bench.wait_settled(other.space, other.watcher, timeout=180)
        if other.name == "standby_on" and round_no > 0:
            _standby_frozen(other, timeout=300)
    app = side.work / "app.py"
    text = app.read_text()
    marker = f"podium-bench-standby-{side.name}-{round_no}-{time.time_ns() % 10**6}"
    app.write_text(text.replace('"Type a name and press Submit."', repr(marker)))
    run = attempt(side.bench, side.space, side.work, marker, side.watcher, side.events)
    app.write_text(text)
    say(f"{side.name} {round_no}: {run.get('total_s')} s {run.get('path')}")
    return run


def compare(args: argparse.Namespace, client: docker.DockerClient, root: Path,
            results: dict[str, Any], cgroup_parent: str, token_for: Any) -> None:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in SIDES}
    with ExitStack() as stack:
        sides = [_start(stack, name, window, root, client, cgroup_parent, token_for)
                 for name, window in SIDES]
        for side in sides:
            _ready(side, args.build_timeout)
        for side in sides:  # untimed: the second deploy, after which the standby is made
            _push(side, 0, sides)
        for i in range(1, args.rounds + 1):
            for side in sides if i % 2 else list(reversed(sides)):
                runs[side.name].append(_push(side, i, sides))
    out: dict[str, Any] = {name: summarize(found) for name, found in runs.items()}
    for name, found in runs.items():
        out[name]["paths"] = [run.get("path") for run in found]
    on = [r["total_s"] for r in runs["standby_on"] if r.get("total_s")]
    off = [r["total_s"] for r in runs["standby_off"] if r.get("total_s")]
    if on and off:
        out["median_on_over_off"] = round(statistics.median(on) / statistics.median(off), 3)
    results["standby_compare"] = out
