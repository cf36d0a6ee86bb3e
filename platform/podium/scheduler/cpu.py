"""CPU priority: the platform before the Spaces.

Each Space's own CPU limit (``space_cpus``) still lets a few Spaces take every core, and
with equal weights the dashboard, API, git and proxy then queue behind them (two spinning
Spaces on two cores: 10 s per dashboard page). So every Space container runs under one
parent cgroup (``space_cgroup_parent``) whose CPU weight (``space_cpu_shares``, against
1024 for the platform's own processes) is low: the kernel's fair scheduler gives the
platform what it asks for first, and the Spaces share everything that is left, so an idle
platform wastes nothing. The weight is of the parent, so it holds however many Spaces run.

Docker creates the parent on the first container's start; its weight is written here,
idempotently, before any Space starts. Supported: the cgroupfs driver on cgroup v1
(``cpu.shares``) and v2 (``cpu.weight``), and the systemd driver (a slice's CPUWeight or
CPUShares, set through systemctl).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from podium.errors import ServiceUnavailable

CGROUP_ROOT = Path("/sys/fs/cgroup")
DEFAULT_SHARES = 1024  # what every other process and cgroup has unless told otherwise


def is_cgroup_v2(root: Path = CGROUP_ROOT) -> bool:
    return (root / "cgroup.controllers").exists()


def shares_to_weight(shares: int) -> int:
    """cgroup v2's weight (default 100) for a v1 share count (default 1024), keeping the
    ratio to the default, which is what the priority is about."""
    return max(1, min(10000, round(shares * 100 / DEFAULT_SHARES)))


def docker_parent(parent: str, driver: str) -> str:
    """The ``cgroup_parent`` Docker wants: a path for cgroupfs, a slice name for systemd."""
    name = parent.strip("/")
    if driver == "systemd":
        return name if name.endswith(".slice") else f"{name.replace('/', '-')}.slice"
    return f"/{name}"


def ensure_parent(parent: str, shares: int, driver: str, root: Path = CGROUP_ROOT) -> str:
    """Create the Spaces' parent cgroup with its low weight (again after a reboot, when the
    cgroup tree starts empty); returns the ``cgroup_parent`` for containers."""
    docker_name = docker_parent(parent, driver)
    if driver == "systemd":
        _systemd_weight(docker_name, shares, is_cgroup_v2(root))
        return docker_name
    if is_cgroup_v2(root):
        group = root / docker_name.strip("/")
        _write(root / "cgroup.subtree_control", "+cpu", missing_ok=True)
        group.mkdir(parents=True, exist_ok=True)
        _write(group / "cpu.weight", str(shares_to_weight(shares)))
    else:
        group = root / "cpu" / docker_name.strip("/")
        group.mkdir(parents=True, exist_ok=True)
        _write(group / "cpu.shares", str(shares))
    return docker_name


def current_weight(parent: str, driver: str, root: Path = CGROUP_ROOT) -> int | None:
    """The parent's weight as the kernel has it (v1 shares or v2 weight), None if absent.
    Under the systemd driver the slice may sit elsewhere in the tree: None."""
    name = docker_parent(parent, driver).strip("/")
    path = (root / name / "cpu.weight") if is_cgroup_v2(root) else (
        root / "cpu" / name / "cpu.shares")
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _write(path: Path, value: str, missing_ok: bool = False) -> None:
    try:
        if path.read_text().strip() == value:
            return
    except OSError:
        if missing_ok:
            return
    try:
        path.write_text(value)
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot set the Spaces' CPU weight ({path}): {exc.strerror or exc}",
            hint="run the scheduler as root on the Docker host, or set "
            "PODIUM_SPACE_CGROUP_PARENT= (empty) to run Spaces without CPU priority",
        ) from exc


def _systemd_weight(slice_name: str, shares: int, v2: bool) -> None:
    systemctl = shutil.which("systemctl")
    prop = f"CPUWeight={shares_to_weight(shares)}" if v2 else f"CPUShares={shares}"
    if systemctl is None or os.geteuid() != 0:
        raise ServiceUnavailable(
            f"cannot set {prop} on {slice_name}: needs root and systemctl",
            hint="set PODIUM_SPACE_CGROUP_PARENT= (empty) to run without CPU priority",
        )
    done = subprocess.run(
        [systemctl, "set-property", "--runtime", slice_name, prop],
        capture_output=True, text=True, timeout=30,
    )
    if done.returncode != 0:
        raise ServiceUnavailable(f"systemctl set-property {slice_name} failed: "
                                 f"{done.stderr.strip()}")
