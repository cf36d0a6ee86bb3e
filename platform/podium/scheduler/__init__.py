"""Runs Spaces: pluggable runtime backends behind ``Backend`` and the ``Scheduler`` that
deploys, sleeps, wakes and reconciles them. The scheduler never builds images."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from podium.config import Settings
from podium.errors import PodiumError
from podium.scheduler.base import Backend, Instance, RuntimeFailure
from podium.scheduler.spec import RunSpec

# Backends by the name used in Settings.scheduler_backend; imported only when chosen.
BACKENDS: dict[str, str] = {
    "docker": "podium.scheduler.docker:DockerBackend",
    # One service per Space on a Docker Swarm (README "Run on a cluster").
    "swarm": "podium.scheduler.swarm:SwarmBackend",
}


def backend_class(settings: Settings) -> type[Backend]:
    """The class of the chosen backend, imported but not built (no engine is reached)."""
    name = settings.scheduler_backend
    target = BACKENDS.get(name)
    if target is None:
        raise PodiumError(
            f"unknown scheduler backend {name!r}",
            hint=f"set PODIUM_SCHEDULER_BACKEND to one of: {', '.join(sorted(BACKENDS))}",
        )
    module, cls = target.split(":")
    chosen: type[Backend] = getattr(import_module(module), cls)
    return chosen


def get_backend(settings: Settings, **kwargs: Any) -> Backend:
    name = settings.scheduler_backend
    chosen = backend_class(settings)
    if name in {"docker", "swarm"}:
        kwargs.setdefault("scope", settings.instance)
    if name == "swarm" and "client" in kwargs:
        # The caller's engine is this host's, where images are built: the swarm backend
        # pushes from it, and talks to the manager named by PODIUM_SWARM_HOST.
        kwargs["build_client"] = kwargs.pop("client")
    return chosen(settings, **kwargs)


__all__ = ["BACKENDS", "Backend", "Instance", "RunSpec", "RuntimeFailure", "backend_class",
           "get_backend"]
