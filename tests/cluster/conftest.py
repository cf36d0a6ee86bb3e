"""The one-machine swarm for tests/cluster: built once for this package by ``hosts.up``
(three ``dockerd`` in network namespaces, Debian's docker-registry) and torn down after its
last test, not at the session's end (idle engines and their swarm would slow every later
test). The host's own engine is never made a swarm member. Under CI=true a missing part
fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import hosts
from tests.conftest import require

NEEDED = ("dockerd", "docker", "docker-registry", "nsenter", "ip", "iptables")


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hosts.Cluster]:
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    require(not missing, f"the test cluster needs {', '.join(missing)} (./dev setup installs)")
    require(os.geteuid() == 0, "the test cluster needs root (network namespaces, dockerd)")
    existing = os.environ.get("PODIUM_TEST_CLUSTER")  # a ./dev cluster state dir, kept up
    if existing:
        found = hosts.Cluster.load(Path(existing).resolve())
        require(found is not None, f"no cluster is up in {existing}")
        assert found is not None
        yield found
        return
    state = tmp_path_factory.mktemp("cluster")
    built = hosts.up(state, count=3)
    try:
        yield built
    finally:
        hosts.down(state)
