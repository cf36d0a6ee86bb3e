"""What a push to a Space's default branch does (Settings.push_handler's default): record
the head, refresh the gallery card from README, queue a build, and tell the pusher where to
look — the lines come out as `remote: ...` in their terminal."""

from __future__ import annotations

import logging

import redis

from podium.builds.queue import enqueue_build
from podium.config import Settings
from podium.errors import ConfigError
from podium.names import SpaceId
from podium.spaces.stage import Stage
from podium.store import get_space, list_builds, update_space

from .devmode import sync_push
from .metadata import card_fields, config_at
from .platform import Platform
from .runtime import cancel_pending_start
from .urls import space_urls

log = logging.getLogger(__name__)


def on_push(
    settings: Settings, space_id: SpaceId, ref: str, old: str, new: str, pusher: str
) -> list[str]:
    platform = Platform(settings)
    try:
        fields: dict[str, object] = {"head_commit": new}
        try:
            fields.update(card_fields(config_at(settings, space_id, new)))
        except ConfigError:
            pass  # the build reports it as CONFIG_ERROR / NO_APP_FILE with line and field
        with platform.db.session() as session:
            space = get_space(session, space_id)
            update_space(session, space, **fields)
            paused = bool(space.paused)
        # Dev mode: code-only changes go into the running container now; the build below
        # still makes the image a restart or a deep wake runs.
        dev = sync_push(platform, space_id, new)
        try:
            build = enqueue_build(settings, platform.redis, platform.db, space_id, new)
        except redis.RedisError as exc:
            log.warning("push to %s at %s: build not queued: %s", space_id, new[:12], exc)
            return [
                f"Podium: pushed {new[:12]} to {space_id} and stored it, but the build queue",
                "is unavailable right now; the build starts by itself once it is back",
                "(the build worker catches up on unbuilt pushes every 30 s).",
            ]
        # A start of the previous commit still waiting for its app is not worth finishing.
        if not dev.synced:
            cancel_pending_start(platform, space_id, Stage.BUILDING)
    finally:
        platform.close()
    base = settings.public_base_url
    urls = space_urls(settings, space_id)
    verb = "joined build" if build.attached else "queued build"
    lines = [
        f"Podium: {verb} {build.build_id[:12]} of {space_id} at {new[:12]} (pushed by {pusher})",
        f"Live URL:   {urls['host']}",
        f"Build logs: podium logs -f {space_id}   or   {base}/api/spaces/{space_id}/logs/build",
    ]
    lines += dev.lines
    if paused:
        lines += [
            f"{space_id} is paused: this version is built and stays paused until you resume it",
            f"with `podium resume {space_id}` or the Resume button at {base}/{space_id}/settings",
        ]
    return lines


def first_build(
    platform: Platform, space_id: SpaceId, commit: str, author: str,
) -> str | None:
    """What a push of ``commit`` does: card fields from README, then a queued build."""
    on_push(platform.settings, space_id, "refs/heads/main", "0" * 40, commit, author)
    with platform.db.session() as session:
        builds = list_builds(session, get_space(session, space_id), limit=1)
        return builds[0].id if builds else None
