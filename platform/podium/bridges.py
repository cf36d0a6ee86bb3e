"""The isolated Docker bridges: one for running Spaces (``podium-spaces``), one for builds'
RUN steps (``Settings.build_network``). Both without inter-container traffic and with this
host's INPUT dropped (``podium.firewall``), so neither a Space nor a Dockerfile reaches the
API, Redis or the proxy through the bridge gateway or any host address, while the internet
(the package index) stays reachable. Shared by the scheduler and the build job, so it lives
below both."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors

from podium import firewall
from podium.config import Settings

_BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
# What the network carries on the engine (podium.scheduler.base.ROLE_LABEL's value space).
_LABELS = {"podium.role": "network"}


def bridge_interface(attrs: dict[str, Any]) -> str:
    return (attrs.get("Options") or {}).get(_BRIDGE_NAME_OPT) or f"br-{attrs['Id'][:12]}"


def ensure_isolated_network(
    client: docker.DockerClient, name: str, *, isolate: bool = True,
    walled: Sequence[str] = (),
) -> None:
    """Create (idempotently) the bridge ``name`` without inter-container traffic and with
    host INPUT dropped (``firewall``). Spaces run on one; builds' RUN steps on another
    (``Settings.build_network``), so neither reaches this host's API, Redis or proxy.
    ``walled``: other hosts' addresses (CIDRs) it may open no connection to either."""
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
    if isolate and walled:
        firewall.ensure_forward_walls(bridge_interface(net.attrs), walled)


def platform_addresses(settings: Settings) -> list[str]:
    """The addresses (``/32``) of the platform services this process reaches over the
    network: Redis, the database, the registry and the git server it fetches from. A build
    worker on another host walls its builds off them (on the platform's own host the INPUT
    rule already does). Loopback is left out (a bridge cannot reach it); a name that does
    not resolve is left out too (the worker itself cannot reach it then)."""
    found: set[str] = set()
    for host in _service_hosts(settings):
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_loopback:
                found.add(f"{address}/32")
    return sorted(found)


def _service_hosts(settings: Settings) -> list[str]:
    urls = [settings.redis_url, settings.database_url, settings.build_source_url]
    registries = [settings.registry, settings.registry_push]
    hosts = [urlsplit(url).hostname for url in urls if url]
    hosts += [urlsplit(f"//{r}").hostname for r in registries if r]
    return [h for h in hosts if h]
