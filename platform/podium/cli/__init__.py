"""The `podium` command (typer + rich). Thin: it builds Settings once and calls components.

Server roles (`up`, `api`, `worker`, `proxy`, `scheduler`, `base-image`) live in server.py;
client commands that talk to a running Podium over its API live in client.py.
"""

from __future__ import annotations

from . import client, server, swarm  # noqa: F401 - importing them registers their commands
from .base import app

__all__ = ["app"]
