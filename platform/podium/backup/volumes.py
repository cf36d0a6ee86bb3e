"""Every Space's /data, in and out of the archive (``--with-data``).

With quotas on, /data is an ext4 image loop-mounted under ``data_dir/storage/data``
(scheduler/storage.py) and stays mounted once a Space has started: the backup reads that
mount, so it works while the Space runs. An image not mounted (no start since the host
booted) is mounted read-only without journal replay (``ro,noload``) in a private place for
the copy. With ``PODIUM_SPACE_DATA_QUOTA=0`` /data is a named Docker volume, read and
written through its mount point on this host. A Space writing during the copy may be caught
mid-write, as with any file copy of a live application; the file set is whatever it was
when each file was read.

Restore makes the image (or volume) the way the scheduler would on first start, for the
target's own scope label (``PODIUM_INSTANCE``), fills it and unmounts it again."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from podium.config import Settings
from podium.names import SpaceId
from podium.scheduler.base import KEY_LABEL, ROLE_LABEL
from podium.scheduler.storage import Storage, mount_image, unmount
from podium.scheduler.volumes import SCOPE_LABEL, SPACE_UID


def data_member(space_id: SpaceId) -> str:
    return f"data/{space_id.owner}/{space_id.name}.tar"


def _tar_tree(root: Path, dest: Path) -> None:
    """A tar of the files below ``root`` (owners, modes, symlinks as they are); a file
    removed while the copy runs is left out rather than failing the backup."""
    with tarfile.open(dest, "w") as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in [*sorted(dirnames), *sorted(filenames)]:
                path = Path(dirpath) / name
                if path.parent == root and name == "lost+found":
                    continue
                try:
                    info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                    if info.isreg():
                        with open(path, "rb") as fh:
                            tar.addfile(info, fh)
                    elif info.isdir() or info.issym() or info.islnk():
                        tar.addfile(info)
                except FileNotFoundError:
                    continue


def _volume_dir(client: Any, name: str) -> Path | None:
    import docker.errors

    try:
        mountpoint = client.volumes.get(name).attrs.get("Mountpoint")
    except docker.errors.NotFound:
        return None
    path = Path(mountpoint) if mountpoint else None
    return path if path is not None and path.is_dir() else None


def copy_out(settings: Settings, space_id: SpaceId, dest: Path, client: Any) -> bool:
    """Write the Space's /data as a tar at ``dest``; False when it has none yet."""
    storage = Storage(settings, settings.instance)
    if not storage.data_quota:
        found = _volume_dir(client, space_id.data_volume(settings.instance))
        if found is None:
            return False
        _tar_tree(found, dest)
        return True
    image, target = storage.data_paths(space_id)
    if not image.exists():
        return False
    if os.path.ismount(target):
        _tar_tree(target, dest)
        return True
    with tempfile.TemporaryDirectory(prefix="podium-backup-data-") as tmp:
        mount_image(image, Path(tmp), "ro", "noload")
        try:
            _tar_tree(Path(tmp), dest)
        finally:
            unmount(Path(tmp))
    return True


def put_back(settings: Settings, space_id: SpaceId, staged: Path, client: Any) -> None:
    """Fill the Space's /data on this host from its tar (made as its first start would)."""
    storage = Storage(settings, settings.instance)
    name = space_id.data_volume(settings.instance)
    if storage.data_quota:
        target = storage.data_mount(space_id, int(SPACE_UID))
        try:
            _extract(staged, target)
        finally:
            unmount(target)
        return
    volume = client.volumes.create(
        name, labels={ROLE_LABEL: "data", KEY_LABEL: space_id.key, SCOPE_LABEL: settings.instance})
    target = Path(volume.attrs["Mountpoint"])
    _extract(staged, target)
    os.chown(target, int(SPACE_UID), int(SPACE_UID))


def _extract(staged: Path, target: Path) -> None:
    # "tar": owners and modes as they were (the app runs as uid 1000), no absolute paths or
    # members outside the target; symlinks are kept as the Space made them (they resolve
    # inside its container, where /data is the root of this tree).
    with tarfile.open(staged, "r") as tar:
        tar.extractall(target, filter="tar")
