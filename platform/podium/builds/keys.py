"""Redis key names used by builds. One place, so the writer, readers and reaper agree."""

from __future__ import annotations

from podium.names import SpaceId

PREFIX = "podium:builds"
# Hash build id -> Space id of builds whose job started and has not ended: what the reaper
# watches.
ACTIVE = f"{PREFIX}:active"


def log_stream(build_id: str) -> str:
    return f"{PREFIX}:log:{build_id}"


def log_end(build_id: str) -> str:
    """Set by whichever writer ends the build's stream first: one terminal event per build."""
    return f"{PREFIX}:log-end:{build_id}"


def lease(build_id: str) -> str:
    return f"{PREFIX}:lease:{build_id}"


def claim(build_id: str) -> str:
    """Set once, by whichever comes first: the job starting or a newer push superseding."""
    return f"{PREFIX}:claim:{build_id}"


def latest_build(space_id: SpaceId) -> str:
    return f"{PREFIX}:latest:{space_id.key}"


def space_lock(space_id: SpaceId) -> str:
    return f"{PREFIX}:lock:enqueue:{space_id.key}"


def deploy_lock(space_id: SpaceId) -> str:
    return f"{PREFIX}:lock:deploy:{space_id.key}"


def rate_limit(queue_name: str) -> str:
    return f"podium-builds-{queue_name}"
