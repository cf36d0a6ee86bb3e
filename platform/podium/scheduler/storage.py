"""Disk quotas for Spaces on the Docker backend.

Docker's overlay2 driver honours ``--storage-opt size`` only on xfs with project quotas, and
a named volume has no size at all, so without this a Space writes to /data, /tmp or beside
its app until the host's disk (which also holds the database, Redis and the repositories)
is full. Every quota here is a sparse ext4 image file loop-mounted on the host, so the
kernel's own "No space left on device" stops the writer and nothing else:

- /data: one image per Space (``<name>.img``, mounted at ``<name>/`` under
  ``data_dir/storage/data``), owned by the Space's uid and bind-mounted as /data;
- the writable layer (the rest of the filesystem, /tmp included): one image per container,
  mounted over the container's overlay2 layer directory (the parent of its upper dir,
  because overlayfs wants upper and work dir on one mount) between create and start.

Sparse images take host space only as they fill; their sizes may add up to more than the
disk (overcommit), as memory limits do. Image and mount names come from ``SpaceId`` only.
Needs root on the engine's host (mount, losetup) in dockerd's mount namespace; a quota of 0
turns the wall off (a named volume, an unlimited layer).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from podium.config import Settings, env_name
from podium.errors import ServiceUnavailable, SettingsError
from podium.names import SpaceId

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# mkfs.ext4 refuses (or makes useless) filesystems much smaller than this.
MIN_QUOTA = 8 << 20
_TIMEOUT_S = 120
log = logging.getLogger(__name__)


def parse_size(text: str | int, setting: str) -> int:
    """Bytes from "5g", "64m", "1.5G", "1024" (the value of the ``Settings`` field
    ``setting``); 0 means "no quota"."""
    if isinstance(text, int):
        return text
    match = _SIZE_RE.fullmatch(str(text))
    if not match:
        raise SettingsError(f"invalid size {text!r}", setting=env_name(setting),
                            hint="write it like 5g, 512m or 0")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if 0 < size < MIN_QUOTA:
        raise SettingsError(f"size {text!r} is below the {MIN_QUOTA >> 20} MB minimum",
                            setting=env_name(setting))
    return size


def _run(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"{args[0]} failed: {exc}") from exc
    if done.returncode not in ok:
        raise ServiceUnavailable(
            f"{' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()}",
            hint="Space disk quotas need root and loop devices on the Docker host; "
            "PODIUM_SPACE_DATA_QUOTA=0 and PODIUM_SPACE_DISK_QUOTA=0 turn them off",
        )
    return done.stdout


def make_image(image: Path, size: int, populate: Path | None = None) -> None:
    """A sparse ext4 image of ``size`` bytes, optionally filled with a copy of ``populate``
    (ownership and modes kept). No reserved blocks: the quota is what the Space gets. A
    populated image is a container's layer, thrown away with it: no journal, which would
    cost 32 MB of host disk per container for nothing."""
    image.parent.mkdir(parents=True, exist_ok=True)
    partial = image.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with open(partial, "wb") as fh:
        fh.truncate(size)
    extra = ["-d", str(populate), "-O", "^has_journal"] if populate is not None else []
    _run("mkfs.ext4", "-q", "-F", "-m", "0", *extra, str(partial))
    partial.rename(image)  # only a complete filesystem ever carries the final name


def mount_image(image: Path, target: Path, *options: str) -> None:
    if os.path.ismount(target):
        return
    target.mkdir(parents=True, exist_ok=True)
    # "loop" sets autoclear: the loop device goes away with the unmount.
    _run("mount", "-o", ",".join(("loop", *options)), str(image), str(target))


def unmount(target: Path) -> None:
    """Unmount ``target`` if it is a mount point; lazily when still busy, so a process
    still holding a file there cannot make a removal fail."""
    if not os.path.ismount(target):
        return
    try:
        _run("umount", str(target))
    except ServiceUnavailable:
        _run("umount", "-l", str(target))


def detach(image: Path) -> None:
    """Free loop devices still backed by ``image`` (a lazy unmount, a crash mid-setup)."""
    if shutil.which("losetup") is None or not image.exists():
        return
    for line in _run("losetup", "-j", str(image)).splitlines():
        device = line.split(":", 1)[0]
        if device:
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=_TIMEOUT_S)


def _loop_devices() -> dict[str, Path]:
    """Attached loop device -> its backing file."""
    return {f"/dev/{entry.parts[3]}": Path(entry.read_text().strip())
            for entry in Path("/sys/block").glob("loop*/loop/backing_file")}


def mounted_from(root: Path) -> dict[Path, Path]:
    """Mount point -> backing image for every loop mount whose image lies under ``root``."""
    backing = {dev: image for dev, image in _loop_devices().items()
               if image.is_relative_to(root)}
    found: dict[Path, Path] = {}
    with open("/proc/self/mounts") as fh:
        for line in fh:
            source, target = line.split()[:2]
            if source in backing:  # mounts escape blanks as octal (\040)
                found[Path(target.encode().decode("unicode_escape"))] = backing[source]
    return found


class Storage:
    """Where each Space's quota images live and how they are mounted."""

    def __init__(self, settings: Settings, scope: str) -> None:
        self.root = settings.data_dir / "storage"
        self.scope = scope
        self.data_quota = parse_size(settings.space_data_quota, "space_data_quota")
        self.disk_quota = parse_size(settings.space_disk_quota, "space_disk_quota")

    # -- /data ---------------------------------------------------------------------------

    def _data_paths(self, space_id: SpaceId) -> tuple[Path, Path]:
        name = space_id.data_volume(self.scope)
        return self.root / "data" / f"{name}.img", self.root / "data" / name

    def data_paths(self, space_id: SpaceId) -> tuple[Path, Path]:
        """(image, mount point) of the Space's /data: what a backup reads (podium.backup) and
        the admin's disk view."""
        return self._data_paths(space_id)

    def has_data(self, space_id: SpaceId) -> bool:
        return self._data_paths(space_id)[0].exists()

    def data_mount(self, space_id: SpaceId, uid: int) -> Path:
        """The host directory to bind as the Space's /data: its image, made on first use
        (owned by ``uid``) and mounted when not already (again after a host reboot)."""
        image, target = self._data_paths(space_id)
        fresh = not image.exists()
        if fresh:
            make_image(image, self.data_quota)
        elif image.stat().st_size < self.data_quota:
            self._grow(image, target)
        mount_image(image, target, "nodev", "nosuid")
        if fresh:
            os.chown(target, uid, uid)
            shutil.rmtree(target / "lost+found", ignore_errors=True)
        return target

    def _grow(self, image: Path, target: Path) -> None:
        """The quota was raised since the image was made: grow it (a lowered quota leaves
        bigger images as they are; shrinking could lose data). Unmounted, offline; mounted
        (a container uses it), online, which needs CAP_SYS_RESOURCE: without it, the image
        grows at its next mount, after a host reboot."""
        device = next((dev for dev, backing in _loop_devices().items() if backing == image),
                      None)
        if device is not None and os.path.ismount(target):
            with open(image, "r+b") as fh:
                fh.truncate(self.data_quota)
            _run("losetup", "-c", device)
            try:
                _run("resize2fs", device)
            except ServiceUnavailable as exc:
                log.warning("growing %s online failed: %s", image.name, exc.message)
            return
        if device is None:
            _run("e2fsck", "-f", "-p", str(image), ok=(0, 1))  # 1: fixed, clean now
            with open(image, "r+b") as fh:
                fh.truncate(self.data_quota)
            _run("resize2fs", str(image))

    def remove_data(self, space_id: SpaceId) -> None:
        image, target = self._data_paths(space_id)
        unmount(target)
        detach(image)
        image.unlink(missing_ok=True)
        if target.is_dir() and not os.path.ismount(target):
            target.rmdir()

    # -- the writable layer --------------------------------------------------------------

    def _layer_image(self, container_name: str) -> Path:
        return self.root / "layers" / f"{container_name}.img"

    def limit_layer(self, container_name: str, upper_dir: str) -> None:
        """Put a created (not yet started) container's overlay2 layer on its own image: a
        copy of the layer directory (upper dir, work dir, link files) is mounted over it."""
        layer = Path(upper_dir).parent
        image = self._layer_image(container_name)
        if not image.exists():
            make_image(image, self.disk_quota, populate=layer)
        mount_image(image, layer)

    def ensure_layer(self, container_name: str, upper_dir: str) -> None:
        """Mount a stopped container's layer image again before it restarts (after a host
        reboot the mount is gone; starting without it would run with no quota and without
        the files written so far)."""
        image = self._layer_image(container_name)
        if image.exists():
            mount_image(image, Path(upper_dir).parent)

    def release_layer(self, container_name: str, upper_dir: str | None) -> None:
        """After the container is gone (or stopped for good): unmount, free, delete."""
        if upper_dir:
            unmount(Path(upper_dir).parent)
        image = self._layer_image(container_name)
        for target, backing in mounted_from(self.root / "layers").items():
            if backing == image:
                unmount(target)
        detach(image)
        image.unlink(missing_ok=True)

    def layer_names(self) -> set[str]:
        folder = self.root / "layers"
        return {p.stem for p in folder.glob("*.img")} if folder.is_dir() else set()


def upper_dir(attrs: dict[str, Any]) -> str:
    """A container's writable layer on the host (overlay2's UpperDir, from its inspect
    attributes): where its layer quota image is mounted."""
    data = (attrs.get("GraphDriver") or {}).get("Data") or {}
    upper = data.get("UpperDir")
    if not upper:
        raise ServiceUnavailable(
            f"the Docker storage driver {attrs.get('Driver')!r} has no upper dir; the disk "
            "quota needs overlay2",
            hint="set PODIUM_SPACE_DISK_QUOTA=0 to run without it",
        )
    return str(upper)
