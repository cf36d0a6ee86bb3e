"""Helpers for the child processes a Podium process starts (redis-server, nginx, test
servers): a free loopback port to give one, and a child that dies with its parent. Below
every layer, so the proxy's data planes and the test helpers need not import the services
that run them."""

from __future__ import annotations

import ctypes
import signal
import socket

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor is killed outright (SIGKILL, OOM),
    its children get SIGTERM instead of living on as orphans holding the ports."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
