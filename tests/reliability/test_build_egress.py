"""Issue 10, item 4 (builds): a Docker Space's build must not fetch from, or connect to,
this host. Real builds through the queue (an rq worker process, the Docker engine's
classic builder, git bare repositories) with a listener on every host address standing
for the API, Redis and the proxy:

- ``ADD http://127.0.0.1:<port>/x`` (fetched by the daemon, from the host's own network)
  fails the build and the listener sees no request;
- a RUN step connecting to the host (its build-network gateway, the Docker bridge's
  gateway, the host's own address) gets nowhere, while ``pip`` in the same build still
  downloads from the package index."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import docker
import psutil
import pytest
import redis

from podium.builds.queue import enqueue_build
from podium.config import Settings
from podium.names import SpaceId
from podium.spaces.stage import BuildStatus, Stage
from podium.store.db import Database
from tests.conftest import require
from tests.integration import test_builds_queue as shared
from tests.integration.test_builds_docker import made_spaces, own_base, run_burst_worker
from tests.integration.test_builds_queue import (
    CA_BUNDLE,
    build_record,
    commit_files,
    new_space,
    space_record,
    worker_log,
)
from tests.reliability.listeners import Listener
from tests.reliability.test_ssrf import HTTP_OK

build_settings = shared.build_settings
db = shared.db
__all__ = ["made_spaces", "own_base"]

pytestmark = pytest.mark.docker
README = "---\ntitle: Hostile\nsdk: docker\napp_port: 8000\n---\n"
# Connects from inside the RUN container to each address on the listener's port and
# prints REACHED/BLOCKED per address; the build goes on either way.
PROBE = """import socket, struct, sys
port = int(sys.argv[1])
route = [l.split() for l in open("/proc/net/route").read().splitlines()[1:]]
gateway = next(socket.inet_ntoa(struct.pack("<L", int(r[2], 16))) for r in route
               if r[1] == "00000000")
for host in [gateway, *sys.argv[2:]]:
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        s.sendall(b"GET /api/health HTTP/1.0\\r\\n\\r\\n")
        answer = s.recv(100)[:15]
        print(f"PROBE {host} REACHED {answer!r}", flush=True)  # one write: one log line
    except OSError as exc:
        print(f"PROBE {host} BLOCKED {type(exc).__name__}", flush=True)
"""


@pytest.fixture
def egress_settings(build_settings: Settings, own_base: str) -> Iterator[Settings]:
    require(CA_BUNDLE.is_file(), f"no CA bundle at {CA_BUNDLE} for pip inside builds")
    yield build_settings.model_copy(update={"base_image": own_base})


def run_build(settings: Settings, redis_conn: redis.Redis, db: Database, space_id: SpaceId,
              files: dict[str, str]) -> str:
    commit = commit_files(settings, space_id, {"README.md": README, **files})
    ref = enqueue_build(settings, redis_conn, db, space_id, commit)
    run_burst_worker(settings)
    return ref.build_id


def test_item4_docker_space_add_from_host_loopback_is_refused(
    egress_settings: Settings, redis_conn: redis.Redis, db: Database,
    made_spaces: list[SpaceId],
) -> None:
    space_id, _ = new_space(egress_settings, db)
    made_spaces.append(space_id)
    with Listener("0.0.0.0", reply=HTTP_OK) as host_port:
        dockerfile = (f"FROM {egress_settings.base_image}\n"
                      f"ADD http://127.0.0.1:{host_port.port}/api/secret /secret\n"
                      "CMD [\"cat\", \"/secret\"]\n")
        build_id = run_build(egress_settings, redis_conn, db, space_id,
                             {"Dockerfile": dockerfile})
    build = build_record(db, build_id)
    assert host_port.accepted == 0, host_port.requests  # nothing fetched it
    assert build.status == BuildStatus.FAILED, worker_log(egress_settings)
    assert "may not ADD from a URL" in build.failure_reason, build.failure_reason
    assert space_record(db, space_id).stage == Stage.BUILD_ERROR


def test_item4_build_run_steps_cannot_reach_the_host_but_reach_the_index(
    egress_settings: Settings, redis_conn: redis.Redis, db: Database,
    docker_client: docker.DockerClient, made_spaces: list[SpaceId],
) -> None:
    space_id, _ = new_space(egress_settings, db)
    made_spaces.append(space_id)
    # Every IPv4 address of this host: its own, Docker's bridge's, the Spaces bridge's.
    own = sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                  if a.family == socket.AF_INET and not a.address.startswith("127.")})
    with Listener("0.0.0.0", reply=HTTP_OK) as host_port:
        # The control: the same probe from the host reaches the listener.
        with socket.create_connection(("127.0.0.1", host_port.port), timeout=3) as probe:
            probe.sendall(b"GET /api/health HTTP/1.0\r\n\r\n")
            assert probe.recv(15) == HTTP_OK[:15]
        control = host_port.accepted
        dockerfile = (
            f"FROM {egress_settings.base_image}\n"
            "COPY probe.py ca.crt /tmp/\n"
            f"RUN python3 /tmp/probe.py {host_port.port} {' '.join(own)}\n"
            "RUN python3 -m pip download --no-deps --cert /tmp/ca.crt -d /tmp/wheels "
            "six==1.16.0 && ls /tmp/wheels\n"
            "CMD [\"sleep\", \"1\"]\n")
        build_id = run_build(egress_settings, redis_conn, db, space_id, {
            "Dockerfile": dockerfile, "probe.py": PROBE,
            "ca.crt": Path(CA_BUNDLE).read_text()})
        reached = host_port.accepted - control
    build = build_record(db, build_id)
    probes = [line for line in (build.log or "").splitlines() if line.startswith("PROBE")]
    assert len(probes) == 1 + len(own), build.log
    assert reached == 0 and all(" BLOCKED " in p for p in probes), "\n".join(probes)
    assert build.status == BuildStatus.SUCCEEDED, build.failure_reason
    assert "six-1.16.0-py2.py3-none-any.whl" in build.log  # the index stayed reachable
