"""The isolated Docker bridges: one for running Spaces (``podium-spaces``), one for builds'
RUN steps (``Settings.build_network``). Both without inter-container traffic and with this
host's INPUT dropped (``podium.firewall``), so neither a Space nor a Dockerfile reaches the
API, Redis or the proxy through the bridge gateway or any host address, while the internet
(the package index) stays reachable. Shared by the scheduler and the build job, so it lives
below both."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

from podium import firewall

_BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
# What the network carries on the engine (podium.scheduler.base.ROLE_LABEL's value space).
_LABELS = {"podium.role": "network"}


def bridge_interface(attrs: dict[str, Any]) -> str:
    return (attrs.get("Options") or {}).get(_BRIDGE_NAME_OPT) or f"br-{attrs['Id'][:12]}"


def ensure_isolated_network(
    client: docker.DockerClient, name: str, *, isolate: bool = True,
) -> None:
    """Create (idempotently) the bridge ``name`` without inter-container traffic and with
    host INPUT dropped (``firewall``). Spaces run on one; builds' RUN steps on another
    (``Settings.build_network``), so neither reaches this host's API, Redis or proxy."""
    try:
        net = client.networks.get(name)
    except docker.errors.NotFound:
        try:
            net = client.networks.create(
                name,
                driver="bridge",
                options={
                    # A fixed interface name lets the firewall rules name it.
                    _BRIDGE_NAME_OPT: name[:15],
                    "com.docker.network.bridge.enable_icc": "false",
                },
                labels=_LABELS,
                check_duplicate=True,
            )
        except docker.errors.APIError:  # another process created it meanwhile
            net = client.networks.get(name)
    if isolate:
        firewall.ensure_isolation(bridge_interface(net.attrs))
