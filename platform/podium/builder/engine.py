"""Docker engine access for builds: the client, build-container limits, and a streaming
build that a timeout or a cancel event can abort.

The Docker SDK's ``api.build`` returns a generator over a streaming HTTP response and does
not expose the response. Aborting means making the daemon see the client go away (the
classic builder then cancels the build and, with ``forcerm``, removes its container). A
blocked ``recv`` is not woken by ``close()`` on Linux, only by ``shutdown()``; the response
is captured through a requests response hook (public API) so a watchdog thread can shut
its socket down.
"""

from __future__ import annotations

import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import docker
import requests
from docker.utils import parse_bytes

from podium.config import Settings
from podium.errors import BuildError, ServiceUnavailable

# How often the watchdog looks at the cancel event and the clock.
_WATCH_INTERVAL = 0.2
# The classic builder paints a step's stderr red with ANSI escapes.
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BuildCancelled(BuildError):
    """The build was stopped on request (a newer push, a user's cancel)."""

    code = "build_cancelled"


class BuildTimeout(BuildError):
    code = "build_timeout"


def docker_client() -> docker.DockerClient:
    """A client for the engine named by the environment (DOCKER_HOST, default socket)."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no engine"
        raise ServiceUnavailable(
            f"the Docker engine does not answer: {exc}",
            hint="start dockerd (./dev up starts it) or set DOCKER_HOST",
        ) from exc
    return client


def build_limits(settings: Settings) -> dict[str, Any]:
    """``container_limits`` for the classic builder's RUN containers.

    The build API takes only memory, memswap, cpushares and cpusetcpus: a CPU count becomes
    a cpuset of that many cores (a hard cap) plus proportional shares (the weight against
    running Spaces when cores are contended).
    """
    cpus = max(settings.build_cpus, 0.1)
    ncpu = os.cpu_count() or 1
    cores = min(ncpu, math.ceil(cpus))
    memory = parse_bytes(settings.build_memory)
    return {
        "memory": memory,
        "memswap": memory,  # no swap: a build that needs more fails instead of thrashing
        "cpushares": max(2, int(1024 * cpus)),
        "cpusetcpus": "0" if cores == 1 else f"0-{cores - 1}",
    }


@dataclass
class BuildStream:
    """Result of :func:`stream_build`: the image id and the lines of the output."""

    image_id: str | None = None
    error: str | None = None
    lines: list[str] = field(default_factory=list)


@contextmanager
def _capture_build_response(api: docker.APIClient) -> Iterator[dict[int, requests.Response]]:
    """Record the /build response made by this thread (clients may be shared by threads)."""
    captured: dict[int, requests.Response] = {}
    me = threading.get_ident()

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if threading.get_ident() == me and "/build" in (response.request.url or ""):
            captured[me] = response
        return response

    api.hooks["response"].append(hook)
    try:
        yield captured
    finally:
        api.hooks["response"].remove(hook)


def _shutdown(response: requests.Response) -> None:
    conn = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()


class _Watchdog(threading.Thread):
    def __init__(
        self, captured: dict[int, requests.Response], owner: int, timeout: float,
        cancel: threading.Event | None,
    ) -> None:
        super().__init__(daemon=True, name="podium-build-watchdog")
        self.captured = captured
        self.owner = owner
        self.deadline = time.monotonic() + timeout
        self.cancel = cancel
        self.done = threading.Event()
        self.reason: str | None = None

    def run(self) -> None:
        while not self.done.wait(_WATCH_INTERVAL):
            if self.cancel is not None and self.cancel.is_set():
                self.reason = "cancelled"
            elif time.monotonic() > self.deadline:
                self.reason = "timeout"
            else:
                continue
            response = self.captured.get(self.owner)
            if response is not None:
                _shutdown(response)
            return


def stream_build(
    client: docker.DockerClient, *, on_line: Callable[[str], None], timeout: float,
    cancel: threading.Event | None = None, **build_kwargs: Any,
) -> BuildStream:
    """Run ``client.api.build`` streaming each output line to ``on_line``.

    Raises BuildTimeout / BuildCancelled when aborted; a failed Dockerfile step is returned
    in ``BuildStream.error`` (the caller knows how to explain it).
    """
    result = BuildStream()
    api = client.api
    with _capture_build_response(api) as captured:
        watchdog = _Watchdog(captured, threading.get_ident(), timeout, cancel)
        if cancel is not None and cancel.is_set():
            raise BuildCancelled("build cancelled before it started")
        watchdog.start()
        try:
            for chunk in api.build(
                decode=True, rm=True, forcerm=True, pull=False, **build_kwargs
            ):
                _consume(chunk, result, on_line)
                if result.error:
                    break
        except Exception as exc:  # the watchdog's shutdown surfaces as any I/O error
            if watchdog.reason is None:
                if isinstance(exc, docker.errors.APIError):
                    raise BuildError(
                        f"the Docker engine refused the build: {exc.explanation}"
                    ) from exc
                raise ServiceUnavailable(f"lost the Docker engine during the build: {exc}",
                                         hint="check that dockerd is running") from exc
        finally:
            watchdog.done.set()
            watchdog.join()
            response = captured.get(threading.get_ident())
            if response is not None:
                response.close()
    if watchdog.reason == "cancelled":
        raise BuildCancelled("build cancelled")
    if watchdog.reason == "timeout":
        raise BuildTimeout(
            f"build timed out after {int(timeout)} s",
            hint="make the dependencies lighter, or raise PODIUM_BUILD_TIMEOUT",
        )
    return result


def _consume(chunk: dict[str, Any], result: BuildStream, on_line: Callable[[str], None]) -> None:
    if "stream" in chunk:
        for line in _ANSI_RE.sub("", str(chunk["stream"])).splitlines():
            if line.strip():
                result.lines.append(line)
                on_line(line)
    elif "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
        result.image_id = str(chunk["aux"]["ID"])
    elif "error" in chunk:
        detail = chunk.get("errorDetail") or {}
        result.error = str(detail.get("message") or chunk["error"]).strip()
    elif "status" in chunk:
        on_line(str(chunk["status"]))
