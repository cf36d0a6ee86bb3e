"""The base image every Space builds from, made without a container registry.

How it works is told in runners/base/README.md: a root filesystem (a registry image when
one answers quickly, else a cached debootstrap tarball ``docker import``ed), then
runners/base/Dockerfile on top (user 1000, venv, pip).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.utils import parse_repository_tag

from podium.builder.engine import stream_build
from podium.config import Settings
from podium.errors import BuildError, ServiceUnavailable
from podium.registry import push_image
from podium.resources import runners_dir

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
# No registry here must cost seconds, not the engine's own minutes-long dial timeouts.
REGISTRY_ATTEMPT_S = 8.0
# Dropped from the root filesystem: never needed at run time, rebuilt by apt when needed.
_TRIM = ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man",
         "usr/share/info", "usr/share/locale")
_IMPORT_CHANGES = [
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["python3"]',
]
BASE_LAYER_TIMEOUT = 600

Log = Callable[[str], None]


def ensure_base_image(
    settings: Settings, client: docker.DockerClient, *, force: bool = False,
    offline: bool = False, log: Log,
) -> str:
    """Make ``settings.base_image`` unless it exists (or ``force``); return its ref."""
    ref = settings.base_image
    if not force and _image_exists(client, ref):
        log(f"base image {ref} exists")
        return ref
    started = time.monotonic()
    root = None if offline else _try_registry(client, settings.registry_base_image, log)
    if root is None:
        root = _import_rootfs(settings, client, log)
    _build_layer(settings, client, root, log)
    log(f"base image {ref} built in {time.monotonic() - started:.1f} s")
    return ref


# -- On a cluster (issue 12 item 3): the base image travels through the registry --


def share_base_image(settings: Settings, client: docker.DockerClient) -> str | None:
    """With a registry (``PODIUM_REGISTRY``), a worker whose engine has the base image puts
    it there, so workers on other hosts pull it instead of making it; returns the pushed
    reference. Idempotent: layers the registry holds are not sent again."""
    if not settings.registry or not _image_exists(client, settings.base_image):
        return None
    repository, tag = _registry_repository(settings.base_image)
    return push_image(client, settings.base_image, settings.registry_push or settings.registry,
                      settings.registry, repository, tag)


def pull_base_image(settings: Settings, client: docker.DockerClient, log: Log) -> None:
    """Before a build on an engine without the base image, with a registry: pull it from
    there (where ``share_base_image`` put it) and tag it as ``settings.base_image``."""
    if not settings.registry or _image_exists(client, settings.base_image):
        return
    repository, tag = _registry_repository(settings.base_image)
    source = f"{settings.registry_push or settings.registry}/{repository}"
    log(f"pulling the base image from {source}:{tag}")
    try:
        client.images.pull(source, tag=tag).tag(*parse_repository_tag(settings.base_image))
    except docker.errors.DockerException as exc:
        raise ServiceUnavailable(
            f"the base image {settings.base_image} is not on this engine, nor in the "
            f"registry ({_one_line(exc)})",
            hint="start `podium worker` once where the base image exists (it pushes it to "
                 "the registry), or run `podium base-image build` on this host",
        ) from exc


def _registry_repository(base_image: str) -> tuple[str, str]:
    repository, tag = parse_repository_tag(base_image)
    return repository, tag or "latest"


def rootfs_ref(base_image: str) -> str:
    repo, tag = parse_repository_tag(base_image)
    return f"{repo}:{tag or 'latest'}-rootfs"


def rootfs_cache_key() -> str:
    text = "\n".join([SUITE, MIRROR, "minbase", *PACKAGES, *_TRIM])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def _try_registry(client: docker.DockerClient, image: str, log: Log) -> str | None:
    """Pull ``image`` within REGISTRY_ATTEMPT_S; None when no registry answers."""
    if not image:
        return None
    log(f"trying registry image {image} (at most {REGISTRY_ATTEMPT_S:.0f} s)")
    outcome: dict[str, BaseException | None] = {}

    def pull() -> None:
        try:
            repo, tag = parse_repository_tag(image)
            client.api.pull(repo, tag=tag or "latest")
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    # A thread, because a pull cannot be given a deadline; a late pull is harmless.
    thread = threading.Thread(target=pull, daemon=True, name="podium-base-pull")
    thread.start()
    thread.join(REGISTRY_ATTEMPT_S)
    if "error" not in outcome:
        log("registry did not answer in time; building the base offline")
        return None
    if outcome["error"] is not None:
        log(f"registry unavailable ({_one_line(outcome['error'])}); building the base offline")
        return None
    return image


def _import_rootfs(settings: Settings, client: docker.DockerClient, log: Log) -> str:
    tarball = _rootfs_tarball(settings, log)
    ref = rootfs_ref(settings.base_image)
    repo, tag = parse_repository_tag(ref)
    log(f"importing {tarball.name} as {ref}")
    client.api.import_image(src=str(tarball), repository=repo, tag=tag, changes=_IMPORT_CHANGES)
    return ref


def _rootfs_tarball(settings: Settings, log: Log) -> Path:
    cache_dir = settings.data_dir / "base"
    tarball = cache_dir / f"rootfs-{SUITE}-{rootfs_cache_key()}.tar"
    if tarball.is_file():
        log(f"using cached root filesystem {tarball}")
        return tarball
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ServiceUnavailable(
            "debootstrap is not installed and no registry answered",
            hint="apt-get install debootstrap, or make PODIUM_REGISTRY_BASE_IMAGE pullable",
        )
    if os.geteuid() != 0:
        raise ServiceUnavailable(
            "debootstrap needs root to make the base image",
            hint="run `podium base-image build` once as root",
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        try:
            started = time.monotonic()
            _run([debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
                  SUITE, str(root), MIRROR], log)
            log(f"debootstrap finished in {time.monotonic() - started:.1f} s")
            for rel in _TRIM:
                target = root / rel
                if target.is_dir():
                    shutil.rmtree(target)
                    target.mkdir()
            partial = tarball.with_suffix(".partial")
            _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], log)
            partial.replace(tarball)
        finally:
            _unmount_below(root)
    return tarball


def _unmount_below(root: Path) -> None:
    """Undo mounts a failed debootstrap left (proc, sys) before the tree is deleted."""
    prefix = str(root.resolve())
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _build_layer(settings: Settings, client: docker.DockerClient, root: str, log: Log) -> None:
    recipe = runners_dir(settings) / "base" / "Dockerfile"
    with tempfile.TemporaryDirectory(prefix="podium-base-") as tmp:
        context = Path(tmp)
        shutil.copy(recipe, context / "Dockerfile")
        ca = context / "ca.crt"
        if settings.ca_bundle is not None and settings.ca_bundle.is_file():
            shutil.copy(settings.ca_bundle, ca)
        else:
            ca.write_bytes(b"")
        result = stream_build(
            client, on_line=log, timeout=BASE_LAYER_TIMEOUT, path=str(context),
            tag=settings.base_image, buildargs={"ROOT_IMAGE": root}, nocache=True,
        )
    if result.error or not result.image_id:
        tail = "\n".join(result.lines[-5:])
        raise BuildError(f"the base image layer failed: {result.error or 'no image'}\n{tail}")


def _run(args: list[str], log: Log) -> None:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        log(line)
        tail = (tail + [line])[-10:]
    if proc.wait() != 0:
        raise ServiceUnavailable(
            f"{Path(args[0]).name} failed (exit {proc.returncode}): {' / '.join(tail[-3:])}",
            hint="check that the Debian mirror is reachable",
        )


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).splitlines()[0][:200] if text else type(exc).__name__
