"""The Spaces' memory budget: what each Space container really uses (its cgroup), and which
frozen Spaces go to deep sleep when the total is over ``spaces_memory_budget``.

Idle Spaces are frozen (cgroup freezer: no CPU, memory kept, thawed in ~0.1 s). Removing a
frozen container frees its memory but makes the next wake a cold start (seconds of
``import gradio``), so it happens only when memory is needed: over the budget, the least
recently used frozen Spaces are removed first, until the total fits. Running Spaces are
never removed for the budget (they serve someone).

The numbers come from the container's own cgroup, found through its init process
(``/proc/PID/cgroup``), so they hold for any cgroup parent and driver, v1 or v2: memory is
the usage minus the inactive page cache (what ``docker stats`` shows; the kernel drops that
cache first under pressure), CPU the cumulative nanoseconds the cgroup ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class Usage:
    memory: int  # bytes in use (without inactive page cache)
    cpu_ns: int  # CPU time used since the container started


def _cgroup_dirs(pid: int, proc: Path, root: Path) -> dict[str, Path]:
    """Controller name → the process's cgroup directory ("" is the v2 unified one)."""
    dirs: dict[str, Path] = {}
    for line in (proc / str(pid) / "cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if not controllers:
            dirs[""] = root / "unified" / rel if (root / "unified").is_dir() else root / rel
            continue
        for name in controllers.split(","):
            mount = root / controllers if (root / controllers).is_dir() else root / name
            dirs[name] = mount / rel
    return dirs


def _stat(path: Path) -> dict[str, int]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def cgroup_usage(pid: int, proc: Path = PROC, root: Path = CGROUP_ROOT) -> Usage | None:
    """The memory and CPU used by the cgroup of process ``pid`` (None once it is gone)."""
    try:
        dirs = _cgroup_dirs(pid, proc, root)
        memory_dir = dirs.get("memory")
        if memory_dir is not None and (memory_dir / "memory.usage_in_bytes").exists():
            stat = _stat(memory_dir / "memory.stat")
            used = int((memory_dir / "memory.usage_in_bytes").read_text())
            memory = used - stat.get("total_inactive_file", 0)
            cpu_dir = dirs.get("cpuacct", memory_dir)
            cpu_ns = int((cpu_dir / "cpuacct.usage").read_text())
        else:  # cgroup v2: one directory holds every controller's files
            unified = dirs[""]
            stat = _stat(unified / "memory.stat")
            memory = int((unified / "memory.current").read_text()) - stat.get("inactive_file", 0)
            cpu_ns = _stat(unified / "cpu.stat")["usage_usec"] * 1000
    except (OSError, KeyError, ValueError):
        return None
    return Usage(memory=max(memory, 0), cpu_ns=cpu_ns)


@dataclass(frozen=True, slots=True)
class Resident:
    """One Space container holding memory."""

    space_key: str
    memory: int
    frozen: bool
    last_active: float  # the Space's last request (or start), seconds since the epoch


def to_evict(residents: Iterable[Resident], budget: int) -> list[Resident]:
    """The frozen Spaces to remove, least recently used first, so the total fits in
    ``budget`` (as close as removing frozen ones can get; 0 = no budget)."""
    residents = list(residents)
    total = sum(r.memory for r in residents)
    if budget <= 0 or total <= budget:
        return []
    chosen = []
    for resident in sorted((r for r in residents if r.frozen), key=lambda r: r.last_active):
        if total <= budget:
            break
        chosen.append(resident)
        total -= resident.memory
    return chosen
