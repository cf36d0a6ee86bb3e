"""The shared dependency cache: a platform-owned folder of wheels (``data_dir/wheelhouse``),
so a Space whose requirements overlap what other Spaces installed does not download them
again, and uv installs them in seconds (bench/pipuv.py).

Why not BuildKit cache mounts: BuildKit runs RUN steps only on the default, host or no
network (``network mode "podium-builds" not supported by buildkit``), which would take
builds out from behind the build firewall; and a cache mount is writable by the very steps
that run a Space's code (its sdists' setup.py), so one Space could plant a package another
then installs.

How it stays unpoisonable:

- Only :func:`fill` writes here: a container the platform runs from the base image (its
  own pip, no Space layer under it) on the firewalled build bridge, with
  ``pip download --only-binary=:all:`` (wheels only: no package's code runs) from the
  platform's index only (``--isolated``, ``PIP_INDEX_URL`` from settings). The Space
  contributes nothing but requirement specifiers, parsed on the host with ``packaging``:
  option lines (``--index-url``, ``--find-links``, ``-e``), URLs and paths are dropped,
  so a Space cannot steer a download elsewhere. pip checks each file's hash from the
  index.
- A build gets a copy of the wheels it needs in its own build context (hard links,
  read-only to the engine), never the folder: whatever its RUN steps do changes only its
  own image.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from podium.builder.constraints import requirement_lines
from podium.config import Settings

# The uv release whose binary installs from the cache (from the same folder: its wheel is
# downloaded by the same fill, from the same index).
UV_REQUIREMENT = "uv==0.13.9"
# A wheel's file name (PEP 427): name-version(-build)?-python-abi-platform.whl
WHEEL_RE = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.!+]+(-[A-Za-z0-9_.]+){3,4}\.whl$")
_SAVED_RE = re.compile(r"(?:Saved|File was already downloaded) /wheels/(\S+\.whl)")
FILL_TIMEOUT_S = 300

Log = Callable[[str], None]


@dataclass(frozen=True)
class Wheels:
    """What one build takes from the cache: its wheels and the uv binary."""

    files: tuple[Path, ...]
    uv: Path | None


def specifiers(requirements: str) -> list[str]:
    """The plain requirement lines of a requirements file (name, extras, versions, markers),
    each re-written by ``packaging``; everything else (options, URLs, paths, editables) is
    left to the Space's own install step, never to the cache."""
    return [str(req) for _, _, req in requirement_lines(requirements) if not req.url]


def cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "wheelhouse"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One fill at a time per host (several workers share the folder)."""
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fill(
    settings: Settings, client: docker.DockerClient, requirements: str, constraints: str,
    log: Log,
) -> Wheels:
    """Download the wheels of ``requirements`` (under the SDK's ``constraints``) into the
    cache, or find them there; returns those this build needs. Best effort: when a
    requirement has no wheel, or the index is down, the build installs as without a cache."""
    wanted = specifiers(requirements)
    folder = cache_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(folder, 1000, 1000)  # the fill runs as the base image's user
    if not wanted:
        return Wheels((), None)
    tmp_root = settings.data_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="fill-") as tmp:
        inputs = Path(tmp)
        inputs.chmod(0o755)  # read by the fill's user (uid 1000); holds no secret
        (inputs / "fill.txt").write_text("\n".join([*wanted, UV_REQUIREMENT]) + "\n")
        (inputs / "constraints.txt").write_text(constraints)
        with _locked(folder):
            ok, output = _download(settings, client, inputs, folder)
    if not ok:
        last = output.strip().splitlines()[-1:] or ["no output"]
        log("the dependency cache could not take these requirements (a package without a "
            f"wheel, or no index: {last[0]}): installing from the index")
        return Wheels((), None)
    names = [n for n in _SAVED_RE.findall(output) if WHEEL_RE.match(n)]
    files = tuple(p for p in (folder / n for n in names)
                  if p.is_file() and not p.is_symlink())
    saved = output.count("Saved /wheels/")
    log(f"dependency cache: {len(files) - saved} wheels cached, {saved} downloaded")
    uv_wheel = next((p for p in files if p.name.startswith("uv-")), None)
    return Wheels(tuple(p for p in files if p != uv_wheel), _uv_binary(uv_wheel))


def _download(
    settings: Settings, client: docker.DockerClient, inputs: Path, folder: Path,
) -> tuple[bool, str]:
    """Run pip download in a platform container: whether it worked, and its output."""
    # --isolated: no pip configuration or PIP_* variable applies, only these flags. The HTTP
    # cache (index pages, downloads) lives beside the wheels, written by fills alone.
    volumes = {str(folder): {"bind": "/wheels", "mode": "rw"},
               str(inputs): {"bind": "/in", "mode": "ro"}}
    command = ["pip", "--isolated", "download", "--progress-bar", "off", "--only-binary=:all:",
               "--cache-dir", "/wheels/.http", "-d", "/wheels", "-r", "/in/fill.txt",
               "-c", "/in/constraints.txt"]
    if settings.ca_bundle is not None and settings.ca_bundle.is_file():
        volumes[str(settings.ca_bundle)] = {"bind": "/tmp/ca.crt", "mode": "ro"}
        command += ["--cert", "/tmp/ca.crt"]
    if settings.index_url:
        command += ["--index-url", settings.index_url]
    if settings.extra_index_url:
        command += ["--extra-index-url", settings.extra_index_url]
    container = client.containers.run(
        settings.base_image, command, detach=True, network=settings.build_network,
        volumes=volumes, user="1000:1000", labels={"podium.role": "fill"},
    )
    try:
        status = container.wait(timeout=FILL_TIMEOUT_S)
        output = container.logs().decode(errors="replace")
    except Exception as exc:  # noqa: BLE001 - a hung or lost fill only means no cache now
        return False, str(exc)
    finally:
        container.remove(force=True)
    return status.get("StatusCode") == 0, output


def stage(settings: Settings, wheels: Wheels, dest: Path, *, uv: bool = True) -> None:
    """Hard-link (or copy) the build's wheels into ``dest/wheels`` and (with ``uv``) uv to
    ``dest/uv``, under the fill lock: a fill never rewrites a file while a build takes it."""
    (dest / "wheels").mkdir(parents=True)
    with _locked(cache_dir(settings)):
        for path in wheels.files:
            _link_or_copy(path, dest / "wheels" / path.name)
        if uv and wheels.uv is not None:
            _link_or_copy(wheels.uv, dest / "uv")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _uv_binary(wheel: Path | None) -> Path | None:
    """The uv executable out of its wheel (extracted once, next to it)."""
    if wheel is None:
        return None
    target = wheel.parent / "tools" / wheel.name.removesuffix(".whl")
    if target.is_file():
        return target
    target.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        member = next((m for m in archive.namelist() if m.endswith(".data/scripts/uv")), None)
        if member is None:
            return None
        with archive.open(member) as src, tempfile.NamedTemporaryFile(
            dir=target.parent, delete=False,
        ) as dst:
            shutil.copyfileobj(src, dst)
    os.chmod(dst.name, 0o755)
    os.replace(dst.name, target)
    return target
