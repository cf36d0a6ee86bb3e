"""When images are removed: after every successful build (that Space), on the worker's
schedule and on ``podium gc`` (every Space this platform's store knows, then the dangling
Space images rebuilds left). The rule of which images stay is podium.builder.retention's;
this module adds what only the store knows: each Space's deployed image, which a sleeping
Space needs to wake although no container holds it.

Only Spaces in this store are pruned: another platform (or a test) on the same engine keeps
its images."""

from __future__ import annotations

import logging
from typing import Any

import docker

from podium.builder.retention import Reclaimed, prune_engine, prune_space
from podium.config import Settings
from podium.names import SpaceId

log = logging.getLogger(__name__)


def keep_newest(settings: Settings) -> int:
    """The running image and the previous ``image_retention`` before it."""
    return settings.image_retention + 1


def prune_after_build(
    settings: Settings, db: Any, client: docker.DockerClient, space_id: SpaceId,
) -> Reclaimed:
    deployed = _deployed_images(db, space_id)
    return prune_space(client, space_id, keep=keep_newest(settings),
                       also_keep=deployed.get(str(space_id), ()))


def collect(settings: Settings, db: Any, client: docker.DockerClient) -> Reclaimed:
    """One full pass. ``bytes`` is what the engine's disk use shrank by (``docker system
    df``: layers plus build cache, before minus after), which is all the disk a pass can
    give back: layers the removed images share with kept ones stay. ``image_bytes`` is
    what the removed images measured one by one."""
    before = engine_disk_bytes(client)
    out = Reclaimed()
    for key, deployed in _deployed_images(db).items():
        out.add(prune_space(client, SpaceId.parse(key), keep=keep_newest(settings),
                            also_keep=deployed))
    out.add(prune_engine(client))
    out.bytes = max(0, before - engine_disk_bytes(client))
    log.info("garbage collection removed %d images (%d bytes listed), freed %d bytes",
             len(out.images), out.image_bytes, out.bytes)
    return out


def _deployed_images(db: Any, only: SpaceId | None = None) -> dict[str, tuple[str, ...]]:
    from sqlalchemy import select

    from podium.store import Space, find_space

    with db.session() as session:
        if only is not None:
            found = find_space(session, only)
            spaces = [found] if found is not None else []
        else:
            spaces = list(session.scalars(select(Space)))
        return {str(s.space_id): (s.deployed_image,) if s.deployed_image else ()
                for s in spaces}


def engine_disk_bytes(client: docker.DockerClient) -> int:
    """The engine's disk use for images: unique layer bytes plus build cache."""
    df = client.df()
    cache = sum(int(entry.get("Size") or 0) for entry in df.get("BuildCache") or [])
    return int(df.get("LayersSize") or 0) + cache
