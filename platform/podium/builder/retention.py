"""Which images stay on the engine: per Space the newest few (the running one and the
previous ``keep`` before it, for a rollback or a wake) and any the caller names (the
deployed image of a sleeping Space, whose container is gone); every other image of the
Space, dangling images and build cache older than a day are removed. Without this every
build left its image forever and the disk filled.

An image a container still uses is never removed: the engine refuses to untag it without
force (409), and nothing here forces."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import docker

from podium.names import SpaceId

# Build cache no build touched for this long is stale (BuildKit's cache; the classic
# builder's cache is the images themselves).
STALE_BUILD_CACHE = "24h"


@dataclass
class Reclaimed:
    """What a pass removed: image refs and bytes the engine reported freed."""

    images: list[str] = field(default_factory=list)
    bytes: int = 0

    def add(self, other: Reclaimed) -> Reclaimed:
        self.images += other.images
        self.bytes += other.bytes
        return self


def space_images(client: docker.DockerClient, space_id: SpaceId) -> list[tuple[str, int]]:
    """(ref, created) of this Space's tags, newest first."""
    repository = space_id.image_repository()
    rows = client.api.images(name=repository)
    tagged = [(tag, int(row["Created"])) for row in rows for tag in row.get("RepoTags") or []
              if tag.rsplit(":", 1)[0] == repository]
    return sorted(tagged, key=lambda item: item[1], reverse=True)


def prune_space(
    client: docker.DockerClient, space_id: SpaceId, *, keep: int,
    also_keep: Collection[str] = (),
) -> Reclaimed:
    """Remove the Space's images but the newest ``keep`` and ``also_keep``."""
    out = Reclaimed()
    for index, (ref, _) in enumerate(space_images(client, space_id)):
        if index < keep or ref in also_keep:
            continue
        if _remove(client, ref):
            out.images.append(ref)
    return out


def remove_space_images(client: docker.DockerClient, space_id: SpaceId) -> Reclaimed:
    """Every image of a deleted Space (its containers are gone first)."""
    return prune_space(client, space_id, keep=0)


def prune_engine(client: docker.DockerClient) -> Reclaimed:
    """Dangling images (what superseded builds left untagged) and stale build cache."""
    out = Reclaimed()
    images = client.images.prune(filters={"dangling": True})
    out.images += [d["Deleted"] for d in images.get("ImagesDeleted") or [] if "Deleted" in d]
    out.bytes += int(images.get("SpaceReclaimed") or 0)
    try:
        cache = client.api.prune_builds(filters={"until": STALE_BUILD_CACHE})
    except docker.errors.APIError:
        cache = {}  # an engine without BuildKit's cache API has no such cache
    out.bytes += int(cache.get("SpaceReclaimed") or 0)
    return out


def _remove(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.remove(ref)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # a container uses it: it stays
            return False
        raise
    return True
