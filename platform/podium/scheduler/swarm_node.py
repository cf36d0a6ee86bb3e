"""What every swarm node needs before Spaces land on it (``podium swarm node``, run as root
on each node): the Spaces network's local half and the firewall around it.

A swarm-scoped ``bridge`` network ignores the options given on the manager (its bridge gets
a random name, a random subnet, inter-container traffic on), so each node defines them in a
config-only network the manager's network is created ``--config-from`` (swarm.py): bridge
``podium-spaces`` without inter-container traffic, on every node alike. The walls then name
that bridge, as on a single host (firewall.py)."""

from __future__ import annotations

from collections.abc import Sequence

import docker
import docker.errors

from podium.errors import ServiceUnavailable
from podium.firewall import ensure_forward_walls

BRIDGE = "podium-spaces"
NODE_CONFIG = "podium-spaces-node"  # the config-only network on each node
SUBNET = "172.30.0.0/16"


def prepare_node(client: docker.DockerClient, networks: Sequence[str],
                 subnet: str = SUBNET) -> None:
    ensure_node_config(client, subnet)
    ensure_forward_walls(BRIDGE, networks)


def ensure_node_config(client: docker.DockerClient, subnet: str = SUBNET) -> None:
    if any(n["Name"] == NODE_CONFIG for n in client.api.networks(names=[NODE_CONFIG])):
        return
    body = {
        "Name": NODE_CONFIG, "ConfigOnly": True, "CheckDuplicate": True,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet}]},
        "Options": {"com.docker.network.bridge.enable_icc": "false",
                    "com.docker.network.bridge.name": BRIDGE},
    }
    try:
        client.api._result(client.api._post_json(client.api._url("/networks/create"),
                                                 data=body), json=True)
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise ServiceUnavailable(f"could not define the Spaces network here: {exc}") from exc


def swarm_network_body(name: str) -> dict[str, object]:
    """The manager's half: a swarm-scoped bridge taking each node's config (the engine
    refuses anything else beside ConfigFrom, labels included)."""
    return {"Name": name, "Driver": "bridge", "Scope": "swarm", "CheckDuplicate": True,
            "ConfigFrom": {"Network": NODE_CONFIG}}
