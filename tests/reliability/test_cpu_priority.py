"""Issue 10 item 14: two Spaces spin on every core (a busy loop in one process per core,
each Space allowed every core). The platform's own work, a fixed CPU-bound job run here in
the platform's cgroup, must be slowed far less than it is with equal weights.

The machine is shared and noisy, so the comparison is interleaved: round after round the
same two containers are stopped (the unloaded baseline), then run with their parent at its
low weight, then at the default weight (1024, what main has); each figure is a median of
ratios taken a second apart. Real Docker engine, real cgroups; nothing mocked."""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import signal
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from podium.config import Settings
from podium.names import SpaceId
from podium.scheduler import cpu
from podium.scheduler.docker import DockerBackend
from podium.scheduler.spec import RunSpec
from tests.conftest import build_image, require

pytestmark = [pytest.mark.docker]

# The spinning app bench/cpu.py measures with.
SPIN = (Path(__file__).parents[2] / "bench" / "spin_app.py").read_text()
DOCKERFILE = """FROM {base}
COPY app.py /app/app.py
CMD ["python3", "-u", "/app/app.py"]
"""
ROUNDS = 11
# Measured on a quiet 2-core host, the job on both cores: 1.87-1.89x with equal weights,
# 1.07-1.12x with the Spaces' parent at 128; the bound leaves room for a noisy neighbour.
MAX_SLOWDOWN = 1.3


@pytest.fixture(scope="module")
def spin_image(docker_client: docker.DockerClient, base_image: str) -> Iterator[str]:
    ref = f"podium-test/spin:{uuid.uuid4().hex[:10]}"
    build_image(docker_client, ref, {"Dockerfile": DOCKERFILE.format(base=base_image),
                                     "app.py": SPIN})
    yield ref
    docker_client.images.remove(ref, force=True)


@pytest.fixture
def backend(settings: Settings, docker_client: docker.DockerClient) -> Iterator[DockerBackend]:
    require(os.geteuid() == 0, "setting cgroup weights needs root")
    parent = f"/podium-test-{uuid.uuid4().hex[:8]}"
    be = DockerBackend(settings.model_copy(update={"space_cgroup_parent": parent}),
                       docker_client, scope=f"test-{uuid.uuid4().hex[:8]}")
    yield be
    for instance in be.list_instances():
        be.remove(instance)
    for controller in Path("/sys/fs/cgroup").iterdir():  # docker made it in each controller
        group = controller / parent.strip("/")
        if group.is_dir():
            group.rmdir()


def _job(_: int) -> int:
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return total


def work_seconds(pool: multiprocessing.pool.Pool, cores: int) -> float:
    """Wall time of a fixed CPU-bound job on every core at once (about 0.2 s idle): the
    platform is several busy processes (API, proxy, worker, scheduler). One process alone
    would get a core even at equal weights, where the Spaces' group counts as one task."""
    start = time.perf_counter()
    pool.map(_job, range(cores), chunksize=1)
    return time.perf_counter() - start


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        os.kill(pid, sig)


def fastest(pool: multiprocessing.pool.Pool, cores: int) -> float:
    # The fastest of two: noise from other work on the machine only ever slows a run.
    return min(work_seconds(pool, cores) for _ in range(2))


def slowdowns(pids: list[int], weight: Callable[[int], None], shares: int,
              rounds: int) -> tuple[float, float]:
    """Median slowdown of the job (loaded / Spaces stopped) with the Spaces' parent at
    ``shares`` and at the default weight, the three measured side by side in each round so
    that both see the same neighbours. The Spaces are stopped with SIGSTOP for the baseline,
    not frozen: the cgroup v1 freezer can time out on busy tasks of a low weight."""
    low, equal = [], []
    cores = len(os.sched_getaffinity(0))
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        for _ in range(rounds):
            signal_all(pids, signal.SIGSTOP)
            try:
                time.sleep(0.2)
                idle = fastest(pool, cores)
            finally:
                signal_all(pids, signal.SIGCONT)
            for ratios, value in ((low, shares), (equal, cpu.DEFAULT_SHARES)):
                weight(value)
                time.sleep(0.4)  # let the spinners take the cores back
                ratios.append(fastest(pool, cores) / idle)
    weight(shares)
    print("slowdowns", [round(r, 2) for r in low], [round(r, 2) for r in equal])
    return statistics.median(low), statistics.median(equal)


def parent_cpu_seconds(parent: str) -> float:
    path = Path("/sys/fs/cgroup/cpuacct") / parent.strip("/") / "cpuacct.usage"
    if cpu.is_cgroup_v2():
        stat = (Path("/sys/fs/cgroup") / parent.strip("/") / "cpu.stat").read_text()
        return int(stat.split()[1]) / 1e6
    return int(path.read_text()) / 1e9


def test_item14_spinning_spaces_barely_slow_the_platform(
    backend: DockerBackend, spin_image: str, docker_client: docker.DockerClient
) -> None:
    cores = float(os.cpu_count() or 2)
    parent = backend.settings.space_cgroup_parent
    containers = []
    for _ in range(2):
        spec = RunSpec.for_space(
            backend.settings, SpaceId(f"c{uuid.uuid4().hex[:8]}", "spin"), spin_image,
            app_port=7860, sdk="docker", commit="c1", memory="256m", pids=64, cpus=cores)
        instance = backend.start(spec)
        backend.wait_healthy(instance, timeout=30)
        containers.append(docker_client.containers.get(instance.id))
    driver = str(docker_client.info().get("CgroupDriver"))
    assert cpu.current_weight(parent, driver) in {128, cpu.shares_to_weight(128)}

    # One spinner per core in each Space, burning CPU (how much depends on who else runs:
    # the machine is shared, and the weight is there to make them yield).
    for c in containers:
        assert len(c.top()["Processes"]) >= cores + 1
    pids = [int(row[1]) for c in containers for row in c.top()["Processes"]]
    used = parent_cpu_seconds(parent)
    time.sleep(1)
    assert parent_cpu_seconds(parent) > used

    shares = backend.settings.space_cpu_shares
    with_weights, equal_weights = slowdowns(
        pids, lambda value: cpu.ensure_parent(parent, value, driver), shares, ROUNDS)
    print(f"platform job slowdown: {with_weights:.2f}x with the Spaces' weight at "
          f"{shares}, {equal_weights:.2f}x with equal weights "
          f"(load {Path('/proc/loadavg').read_text().split()[:3]})")
    assert with_weights < MAX_SLOWDOWN, (with_weights, equal_weights)
    # The attack bites without the weight: else this test could not have failed.
    assert equal_weights > with_weights + 0.1, (with_weights, equal_weights)
