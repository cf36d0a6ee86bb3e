"""Dev mode (issue 14 item 2), as Hugging Face's Dev Mode: a per-Space opt-in where a
code-only push is copied into the running container and the app's own reloader (Gradio's
watch mode, Streamlit's run-on-save) picks it up, instead of a build and a new container.

- Turning it on or off rebuilds the head commit (``set_dev_mode``): the new container runs
  with the reloader's environment (on) or is the immutable blue/green version again (off).
- A push (``sync_push``, called by ``controller.push.on_push``) is synced into the running
  container when only code changed since what it runs; a push that changes what the image
  is made of (requirements, packages, Dockerfile, the README's sdk / version / app file /
  port, Git LFS files) builds and swaps as usual.
- The push still queues its build, so the Space's image catches up for a restart or a wake
  from deep sleep; when that build's deploy finds the running container already serving its
  commit (``adopt``), it keeps the container and only records the new image.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

from podium.errors import BadRequest, ConfigError, NotFound, PodiumError
from podium.gitserver.git import run_git
from podium.keys import dev_synced
from podium.names import SpaceId
from podium.scheduler import devfiles
from podium.scheduler.records import Desired, SpaceRecords
from podium.scheduler.spec import RunSpec
from podium.store import get_space, update_space
from podium.store.models import Space

from .metadata import config_at
from .platform import Platform

log = logging.getLogger(__name__)

DEV_SDKS = frozenset({"gradio", "streamlit"})
# Files whose change means a new image: the build decides what they do.
BUILD_FILES = frozenset({"requirements.txt", "pre-requirements.txt", "packages.txt",
                         "Dockerfile", ".gitattributes"})
# README fields the image or the container's start is made from.
RUNTIME_FIELDS = ("sdk", "sdk_version", "python_version", "app_file", "app_port")
# A sync marker outlives any build of its push.
SYNCED_TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class DevSync:
    synced: bool
    lines: list[str]


def dev_variables(space: Space, sdk: str, app_file: str) -> dict[str, str]:
    """The environment a dev-mode Space's container gets (its reloader on)."""
    return devfiles.reload_env(sdk, app_file) if space.dev_mode else {}


def set_dev_mode(platform: Platform, space_id: SpaceId, on: bool) -> bool:
    """Store the mode; returns whether the running version must be rebuilt to match."""
    with platform.db.session() as session:
        space = get_space(session, space_id)
        if on and str(space.sdk) not in DEV_SDKS:
            raise BadRequest(f"dev mode reloads Gradio and Streamlit apps; {space_id} is "
                             f"a {space.sdk} Space")
        if bool(space.dev_mode) == on:
            return False
        update_space(session, space, dev_mode=on)
        deployed = bool(space.deployed_image)
    platform.redis.delete(dev_synced(space_id.key))
    return deployed


def _changes(git_dir: object, old: str, new: str) -> list[tuple[str, str]]:
    out = run_git(["diff", "--name-status", "-z", "--no-renames", old, new],
                  git_dir=git_dir).stdout.decode(errors="surrogateescape")  # type: ignore[arg-type]
    fields = out.split("\0")
    return [(fields[i][:1], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]


def _needs_build(platform: Platform, space_id: SpaceId, old: str, new: str,
                 paths: list[str]) -> str | None:
    touched = sorted(set(paths) & BUILD_FILES)
    if touched:
        return f"{', '.join(touched)} changed"
    if "README.md" in paths:
        try:
            before = config_at(platform.settings, space_id, old)
            after = config_at(platform.settings, space_id, new)
        except (ConfigError, PodiumError):
            return "README.md needs checking by a build"
        changed = [f for f in RUNTIME_FIELDS if getattr(before, f) != getattr(after, f)]
        if changed:
            return f"README.md changed {', '.join(changed)}"
    return None


def _running_code(platform: Platform, space_key: str, container: str, spec: RunSpec) -> str:
    """The commit whose files the container holds: the last sync into it, else its image's."""
    raw = platform.redis.get(dev_synced(space_key))
    if raw:
        marker = json.loads(raw)
        if marker.get("container") == container:
            return str(marker["commit"])
    return spec.commit


def sync_push(platform: Platform, space_id: SpaceId, new: str) -> DevSync:
    """Copy a dev-mode Space's push into its running container when only code changed."""
    with platform.db.session() as session:
        space = get_space(session, space_id)
        if not space.dev_mode or space.paused:
            return DevSync(False, [])
    record = SpaceRecords(platform.redis).get(space_id.key)
    if record is None or record.desired is not Desired.RUNNING or not record.container:
        return DevSync(False, ["Dev mode: no running container to reload; building."])
    instance = platform.scheduler.backend.refresh(record.container)
    if instance is None or not instance.running:
        return DevSync(False, ["Dev mode: the container is not running; building."])
    old = _running_code(platform, space_id.key, record.container, record.spec)
    git_dir = space_id.repo_path(platform.settings.repos_dir)
    changes = _changes(git_dir, old, new)
    why = _needs_build(platform, space_id, old, new, [p for _, p in changes])
    if why is not None:
        return DevSync(False, [f"Dev mode: {why}; building a new image."])
    copied = [p for status, p in changes if status != "D"]
    deleted = [p for status, p in changes if status == "D"]
    try:
        client = platform.docker
        workdir = devfiles.app_dir(client, record.container)
        if copied:
            archive = run_git(["archive", "--format=tar", new, "--", *copied],
                              git_dir=git_dir).stdout
            devfiles.put_files(client, record.container, archive, workdir)
        devfiles.remove_files(client, record.container, deleted, workdir)
    except (PodiumError, NotFound) as exc:
        log.warning("dev sync of %s failed: %s", space_id, exc)
        return DevSync(False, [f"Dev mode: copying failed ({exc}); building."])
    platform.redis.set(dev_synced(space_id.key),
                       json.dumps({"commit": new, "container": record.container}),
                       ex=SYNCED_TTL_S)
    with platform.db.session() as session:
        update_space(session, get_space(session, space_id), deployed_commit=new)
    return DevSync(True, [
        f"Dev mode: {len(copied)} file(s) copied and {len(deleted)} removed in the running "
        "container; the app reloads them (its image is rebuilt in the background)."])


def adopt(platform: Platform, space_id: SpaceId, spec: RunSpec) -> bool:
    """For a build's deploy: True when the running container already serves ``spec``'s
    commit (synced in dev mode); its record then names the new image, for restarts and
    wakes, and no container is started."""
    raw = platform.redis.get(dev_synced(space_id.key))
    if not raw:
        return False
    marker = json.loads(raw)
    records = SpaceRecords(platform.redis)
    with platform.scheduler.locked(space_id.key, wait=10) as got:
        record = records.get(space_id.key)
        if not got or record is None or marker.get("commit") != spec.commit:
            return False
        if record.container != marker.get("container") or record.desired is not Desired.RUNNING:
            return False
        instance = platform.scheduler.backend.refresh(record.container)
        if instance is None or not instance.running:
            return False
        records.save(replace(record, spec=spec))
    return True
