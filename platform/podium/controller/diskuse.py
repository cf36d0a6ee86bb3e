"""Disk use per Space, for admins: its images on the engine, its /data, its repository and
its Git LFS objects. Read-only; sizes as each owner of the bytes reports them:

- images: ``docker images`` sizes (every layer, shared ones counted in each image: Spaces
  on one sdk_version share the SDK layer), and the engine's own total (``docker system
  df``: unique layers), which is what the disk holds;
- /data: the quota image's blocks allocated on the host (sparse: what it really takes) and,
  while mounted, the bytes its filesystem holds; without quotas the Docker volume's size;
- repository and LFS: bytes of the files under the bare repository, LFS objects apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
from sqlalchemy import select

from podium.builder.retention import space_image_rows
from podium.builds.retention import engine_disk_bytes
from podium.config import Settings
from podium.controller.access import Principal
from podium.controller.platform import Platform
from podium.errors import Forbidden, Unauthorized
from podium.names import SpaceId
from podium.scheduler.storage import Storage
from podium.store.models import Space


@dataclass(frozen=True, slots=True)
class SpaceImage:
    ref: str
    size: int
    deployed: bool


@dataclass(frozen=True, slots=True)
class DataUse:
    kind: str  # "quota image", "volume" or "none"
    quota: int | None  # the image's size (the quota it was made with); None: no quota
    allocated: int  # bytes the host's disk gives it
    used: int | None  # bytes its filesystem holds, when mounted


@dataclass(frozen=True, slots=True)
class SpaceDisk:
    space_id: SpaceId
    images: list[SpaceImage]
    data: DataUse
    repository: int
    lfs: int

    @property
    def image_bytes(self) -> int:
        return sum(image.size for image in self.images)

    @property
    def total(self) -> int:
        """Images as listed, /data as allocated, repository and LFS."""
        return self.image_bytes + self.data.allocated + self.repository + self.lfs

    def as_json(self) -> dict[str, object]:
        return {
            "space": str(self.space_id), "total_bytes": self.total,
            "images": [{"ref": i.ref, "size_bytes": i.size, "deployed": i.deployed}
                       for i in self.images],
            "image_bytes": self.image_bytes,
            "data": {"kind": self.data.kind, "quota_bytes": self.data.quota,
                     "allocated_bytes": self.data.allocated, "used_bytes": self.data.used},
            "repository_bytes": self.repository, "lfs_bytes": self.lfs,
        }


@dataclass
class DiskReport:
    spaces: list[SpaceDisk] = field(default_factory=list)
    engine_bytes: int = 0  # docker system df: unique layers plus build cache

    def as_json(self) -> dict[str, object]:
        return {"engine_image_bytes": self.engine_bytes,
                "spaces": [s.as_json() for s in self.spaces]}


def disk_report(settings: Settings, client: docker.DockerClient,
                spaces: list[tuple[SpaceId, str | None]]) -> DiskReport:
    """``spaces``: (id, deployed image) of every Space; the biggest user first."""
    storage = Storage(settings, settings.instance)
    volumes = _volume_sizes(client)
    report = DiskReport(engine_bytes=engine_disk_bytes(client))
    for space_id, deployed in spaces:
        images = [SpaceImage(ref, size, ref == deployed)
                  for ref, _, size in space_image_rows(client, space_id)]
        git_dir = space_id.repo_path(settings.repos_dir)
        lfs = _tree_bytes(git_dir / "lfs")
        report.spaces.append(SpaceDisk(
            space_id, images, _data_use(storage, volumes, space_id, settings.instance),
            repository=max(_tree_bytes(git_dir) - lfs, 0), lfs=lfs))
    report.spaces.sort(key=lambda s: s.total, reverse=True)
    return report


def _data_use(storage: Storage, volumes: dict[str, int], space_id: SpaceId,
              scope: str) -> DataUse:
    image, target = storage.data_paths(space_id)
    if image.exists():
        stat = image.stat()
        used = None
        if os.path.ismount(target):
            fs = os.statvfs(target)
            used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
        return DataUse("quota image", stat.st_size, stat.st_blocks * 512, used)
    volume = volumes.get(space_id.data_volume(scope))
    if volume is not None:
        return DataUse("volume", None, volume, volume)
    return DataUse("none", None, 0, None)


def _volume_sizes(client: docker.DockerClient) -> dict[str, int]:
    """Named volumes' sizes as ``docker system df -v`` measures them (-1: not measured)."""
    out = {}
    for volume in client.df().get("Volumes") or []:
        size = int((volume.get("UsageData") or {}).get("Size", -1))
        out[volume["Name"]] = max(size, 0)
    return out


def _tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in _files(root))


def _files(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink():
                yield path


def human_bytes(size: int | None) -> str:
    """1.5 GB, 12.0 kB, 3 B (powers of 1000, as ``docker system df`` prints)."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def platform_disk(platform: Platform, principal: Principal | None) -> DiskReport:
    """Every Space's disk use; admins only (a 403 names nothing, as the users' admin routes)."""
    if principal is None:
        raise Unauthorized("sign in as an admin")
    if not principal.is_admin:
        raise Forbidden("only admins see disk use")
    with platform.db.session() as session:
        spaces = [(s.space_id, s.deployed_image) for s in session.scalars(select(Space))]
    return disk_report(platform.settings, platform.docker, spaces)
