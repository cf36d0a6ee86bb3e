"""The build's last step on a cluster: push the image to the registry, so the deploy names
it by digest and whichever node runs the Space pulls exactly these bytes. A worker on any
host that reaches Redis and the registry can build (README "Run on a cluster")."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from podium.config import Settings
from podium.registry import push_image
from podium.spaces.stage import BuildPhase


def publish(settings: Settings, engine: Any, built: Any,
            log: Callable[[BuildPhase, str], None]) -> Any:
    """``built`` with its ref replaced by the registry's digest reference (when a registry
    is set; else unchanged, for the single-host backend)."""
    if not settings.registry:
        return built
    began = time.monotonic()
    repository = built.ref.rsplit(":", 1)[0]
    ref = push_image(engine, built.ref, settings.registry_push or settings.registry,
                     settings.registry, repository)
    log(BuildPhase.EXPORT, f"pushed to the registry as {ref} "
                           f"in {time.monotonic() - began:.1f} s")
    return dataclasses.replace(built, ref=ref)
