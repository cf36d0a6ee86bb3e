"""The test cluster itself: three engines in one swarm (one manager), each in a network
namespace of its own, pulling from the registry by digest; the host's engine stays out."""

from __future__ import annotations

import json

import docker

from podium.registry import push_image
from tests.cluster import hosts


def test_three_nodes_form_one_swarm_and_the_host_engine_stays_out(cluster: hosts.Cluster) -> None:
    listing = hosts.docker(cluster.manager, "node", "ls", "--format", "{{json .}}").stdout
    nodes = [json.loads(line) for line in listing.splitlines()]
    assert len(nodes) == 3
    assert all(n["Status"] == "Ready" for n in nodes)
    assert [n["ManagerStatus"] for n in nodes].count("Leader") == 1
    addrs = {hosts.docker(cluster.manager, "node", "inspect", n["ID"], "--format",
                          "{{.Status.Addr}}").stdout.strip() for n in nodes}
    assert addrs == {n.addr for n in cluster.nodes}
    assert docker.from_env().info()["Swarm"]["LocalNodeState"] == "inactive"


def test_a_worker_pulls_by_digest_what_the_host_engine_pushed(cluster: hosts.Cluster) -> None:
    ref = push_image(docker.from_env(), "podium/base:bookworm", cluster.push_registry,
                     cluster.registry, "podium/base")
    assert ref.startswith(f"{cluster.registry}/podium/base@sha256:")
    # The push's registry name is gone from the build host: left there it would keep each
    # pushed image alive after retention removed its own tag.
    tags = docker.from_env().images.get("podium/base:bookworm").tags
    assert not [t for t in tags if t.startswith(f"{cluster.push_registry}/")], tags
    worker = cluster.nodes[2]
    hosts.docker(worker, "pull", ref)
    out = hosts.docker(worker, "run", "--rm", "--network", "none", ref, "id", "-u").stdout
    assert out.strip().isdigit()
