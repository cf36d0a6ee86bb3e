"""CPU and memory of the running Space containers, sampled by the scheduler process every
``metrics_usage_interval`` seconds for the metrics (podium.metrics), off the request path.

Cheap by construction: one listing of the Space containers, then the backend's reading of
each one's cgroup (``Backend.usage``, also what the memory budget reads). CPU is the
kernel's cumulative counter: Prometheus' ``rate()`` turns it into cores, without this
process keeping any history.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from podium.scheduler.base import Backend
    from podium.scheduler.service import Scheduler

log = logging.getLogger(__name__)

# Space key -> (CPU seconds, memory bytes), summed over the Space's containers (two for a
# moment during a swap; a frozen one still holds its memory).
SpaceUsage = dict[str, tuple[float, float]]


def space_usage(backend: Backend) -> SpaceUsage:
    """Each Space's use, from the backend's per-container reading (the one the memory budget
    uses: cgroup files, no engine call per container). Backends that cannot tell add none."""
    usage: SpaceUsage = {}
    for instance in backend.list_instances():
        if not (instance.running or instance.frozen):
            continue
        used = backend.usage(instance)
        if used is None:
            continue  # gone since the listing, or a backend without cgroup access
        cpu, memory = usage.get(instance.space_key, (0.0, 0.0))
        usage[instance.space_key] = (cpu + used.cpu_ns / 1e9, memory + used.memory)
    return usage


def sample_forever(scheduler: Scheduler, stop: threading.Event, every: float) -> None:
    """Record the backend's usage every ``every`` seconds until ``stop`` is set."""
    recorder = scheduler.metrics
    while not stop.wait(every):
        try:
            usage = space_usage(scheduler.backend)
        except Exception as exc:  # noqa: BLE001 - an engine blip must not end the sampling
            log.warning("sampling container usage failed: %s", exc)
            continue
        recorder.put_usage(usage, forget_after=every * 3)
