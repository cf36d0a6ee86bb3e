"""`podium swarm ...`: what a cluster needs beside the roles (README "Run on a cluster"):
the registry for a single-manager setup, and each node's walls around its Spaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from podium.config import Settings
from podium.errors import PodiumError

from .base import app, console, fail

swarm_app = typer.Typer(no_args_is_help=True, help="Run Spaces on a Docker Swarm.")
app.add_typer(swarm_app, name="swarm")


@swarm_app.command("registry")
def registry(
    listen: Annotated[list[str], typer.Option(
        help="host:port to serve on; repeat it (the nodes' address, and 127.0.0.1:PORT "
             "for a build host that pushes without TLS)")],
) -> None:
    """Run Debian's docker-registry (plain HTTP; nodes list it in --insecure-registry)
    with its blobs under the data dir, until interrupted."""
    import threading

    from podium.registry import RegistryServer

    settings = Settings()
    server = RegistryServer(Path(settings.data_dir) / "registry", listen)
    try:
        server.start()
    except PodiumError as exc:
        raise fail(exc) from exc
    console.print(f"registry serving on {', '.join(listen)}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@swarm_app.command("node")
def node(
    network: Annotated[list[str], typer.Option(
        help="a CIDR Spaces must not open connections to (the cluster's private network, "
             "where Redis, the API, the registry and the engines listen); repeatable")],
    subnet: Annotated[str, typer.Option(help="the Spaces' addresses on this node")] =
        "172.30.0.0/16",
) -> None:
    """Prepare this node for Spaces (root; on every node, after `docker swarm join`, and
    again after a reboot for the firewall): the Spaces network's local half and its walls."""
    import docker

    from podium.scheduler.swarm_node import BRIDGE, prepare_node

    try:
        prepare_node(docker.from_env(), network, subnet)
    except PodiumError as exc:
        raise fail(exc) from exc
    console.print(f"Spaces on {BRIDGE} ({subnet}): no inter-Space traffic, no new "
                  f"connections to {', '.join(network)} or to this node")
