"""Which images stay on the engine: per Space the newest few (the running one and the
previous ``keep`` before it, for a rollback or a wake) and any the caller names (the
deployed image of a sleeping Space, whose container is gone); every other image of the
Space and the dangling Space images that rebuilds left untagged are removed. Without this
every build left its image forever and the disk filled.

Only images a Podium build made are touched: the engine is often shared (compose.yaml
mounts the host's), and other software's dangling images and BuildKit cache are not ours
to remove (Podium builds with the classic builder, whose cache is the images themselves).
An image a container still uses is never removed: the engine refuses to untag it without
force (409), and nothing here forces."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import docker

from podium.names import SpaceId

# Every Space image carries it (the build's LABEL step), whichever build pack made it.
SPACE_IMAGE_LABEL = "podium.space"


@dataclass
class Reclaimed:
    """What a pass removed. Two different sizes, because images share layers: removing a
    code-only rebuild frees a few kilobytes although the engine lists it at gigabytes.

    ``bytes``: disk freed, as the engine measures its own use (podium.builds.retention:
    ``docker system df`` layers and build cache, before minus after; prune_engine alone:
    what the engine reported reclaimed). ``image_bytes``: the removed tags' sizes as
    ``docker images`` lists them, shared layers counted in each."""

    images: list[str] = field(default_factory=list)
    bytes: int = 0
    image_bytes: int = 0

    def add(self, other: Reclaimed) -> Reclaimed:
        self.images += other.images
        self.bytes += other.bytes
        self.image_bytes += other.image_bytes
        return self


def space_images(client: docker.DockerClient, space_id: SpaceId) -> list[tuple[str, int]]:
    """(ref, created) of this Space's tags, newest first."""
    return [(ref, created) for ref, created, _ in space_image_rows(client, space_id)]


def space_image_rows(
    client: docker.DockerClient, space_id: SpaceId,
) -> list[tuple[str, int, int]]:
    """(ref, created, size) of this Space's tags, newest first; size as ``docker images``
    lists it (every layer, shared ones too)."""
    repository = space_id.image_repository()
    rows = client.api.images(name=repository)
    tagged = [(tag, int(row["Created"]), int(row.get("Size") or 0))
              for row in rows for tag in row.get("RepoTags") or []
              if tag.rsplit(":", 1)[0] == repository]
    return sorted(tagged, key=lambda item: item[1], reverse=True)


def prune_space(
    client: docker.DockerClient, space_id: SpaceId, *, keep: int,
    also_keep: Collection[str] = (),
) -> Reclaimed:
    """Remove the Space's images but the newest ``keep`` and ``also_keep``."""
    out = Reclaimed()
    for index, (ref, _, size) in enumerate(space_image_rows(client, space_id)):
        if index < keep or ref in also_keep:
            continue
        if _remove(client, ref):
            out.images.append(ref)
            out.image_bytes += size
    return out


def remove_space_images(client: docker.DockerClient, space_id: SpaceId) -> Reclaimed:
    """Every image of a deleted Space (its containers are gone first)."""
    return prune_space(client, space_id, keep=0)


def prune_engine(client: docker.DockerClient) -> Reclaimed:
    """Dangling Space images: what a rebuild of a tag (a factory rebuild) left untagged."""
    out = Reclaimed()
    images = client.images.prune(filters={"dangling": True, "label": SPACE_IMAGE_LABEL})
    out.images += [d["Deleted"] for d in images.get("ImagesDeleted") or [] if "Deleted" in d]
    out.bytes += int(images.get("SpaceReclaimed") or 0)
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
