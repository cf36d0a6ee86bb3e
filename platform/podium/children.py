"""Helpers for the child processes a Podium process starts (redis-server, nginx, test
servers): a free loopback port to give one, a child that dies with its parent, and a
stop that cannot hang. Below
every layer, so the proxy's data planes and the test helpers need not import the services
that run them."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn``: if the supervisor is killed outright (SIGKILL, OOM), its children
    get SIGTERM instead of living on as orphans holding the ports. Made in the parent, so the
    child can tell whether the parent died between the fork and the prctl (the signal would
    never come then): it exits instead of running on."""
    parent = os.getpid()

    def hook() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return hook


def end(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not exited within ``timeout`` seconds; reaped
    either way, so no zombie outlives the call."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
