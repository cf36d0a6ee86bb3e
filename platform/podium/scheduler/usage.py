"""CPU and memory of the running Space containers, sampled by the scheduler process every
``metrics_usage_interval`` seconds for the metrics (podium.metrics), off the request path.

Cheap by construction: one listing of the running Space containers, then one ``one-shot``
stats call per container (~10 ms on this engine, where a plain stats call waits ~2 s for a
second CPU sample). CPU is the engine's cumulative counter: Prometheus' ``rate()`` turns it
into cores, without this process keeping any history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import docker
import docker.errors

if TYPE_CHECKING:
    from podium.scheduler.service import Scheduler

log = logging.getLogger(__name__)

# Space key -> (CPU seconds, memory bytes), summed over the Space's running containers (two
# for a moment during a swap).
Usage = dict[str, tuple[float, float]]


def memory_in_use(stats: Mapping[str, Any]) -> float:
    """Memory as ``docker stats`` shows it: usage less the inactive page cache the kernel
    can drop (cgroup v1 calls it total_inactive_file, v2 inactive_file)."""
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return float(max(memory.get("usage", 0) - cache, 0))


def cpu_seconds(stats: Mapping[str, Any]) -> float:
    return float((stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage", 0)) / 1e9


def docker_usage(client: docker.DockerClient, labels: list[str], key_label: str) -> Usage:
    """The running containers carrying ``labels``, by their ``key_label``."""
    usage: Usage = {}
    running = client.api.containers(filters={"label": labels, "status": "running"})
    for summary in running:
        key = (summary.get("Labels") or {}).get(key_label)
        if not key:
            continue
        try:
            stats = client.api.stats(summary["Id"], stream=False, one_shot=True)
        except docker.errors.APIError:
            continue  # stopped or removed since the listing
        cpu, memory = usage.get(key, (0.0, 0.0))
        usage[key] = (cpu + cpu_seconds(stats), memory + memory_in_use(stats))
    return usage


def sample_forever(scheduler: Scheduler, stop: threading.Event, every: float) -> None:
    """Record the backend's usage every ``every`` seconds until ``stop`` is set."""
    recorder = scheduler.metrics
    while not stop.wait(every):
        try:
            usage = scheduler.backend.usage()
        except Exception as exc:  # noqa: BLE001 - an engine blip must not end the sampling
            log.warning("sampling container usage failed: %s", exc)
            continue
        recorder.put_usage(usage, forget_after=every * 3)
