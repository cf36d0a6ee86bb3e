"""A Space's life as its owner steers it: create (empty, from a template, imported from a
public git URL), duplicate, change settings, delete. The API and the dashboard call these; the
runtime side (restart, pause, resume, restart after a secret changes) is in runtime.py."""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass

import redis

from podium.builder.retention import remove_space_images
from podium.builds.placeholder import show_unrun
from podium.config import Settings
from podium.errors import BadRequest, Forbidden, NotFound
from podium.gitserver.git import run_git
from podium.gitserver.repo import ensure_repo, head_commit, init_from_template
from podium.names import SpaceId
from podium.netguard import parse_url
from podium.scheduler.records import SpaceRecords
from podium.spaces.stage import BuildStatus, Sdk, Stage
from podium.store import (
    create_space,
    delete_space,
    find_user,
    get_space,
    list_builds,
    list_variables,
    set_stage,
    set_variable,
    update_space,
)
from podium.store.models import Space

from . import devmode, runtime
from .access import Principal, may_write
from .imports import start_import
from .platform import Platform
from .push import first_build
from .runtime import Outcome, apply_to_runtime, cancel_pending_start, is_live, redeploy_later
from .templates import get_template
from .urls import space_urls

log = logging.getLogger(__name__)

# The sdk an empty Space records until its first push says which (imports likewise).
UNDETECTED_SDK = Sdk.GRADIO
SETTINGS_FIELDS = ("private", "sleep_time", "cpu_limit", "memory_limit")
# Card and runtime settings a duplicate inherits; secrets never do.
COPIED_FIELDS = ("title", "emoji", "color_from", "color_to", "short_description",
                 "sleep_time", "cpu_limit", "memory_limit")




@dataclass(frozen=True, slots=True)
class Created:
    space: Space
    build_id: str | None = None


def _target(platform: Platform, principal: Principal, owner: str | None, name: str) -> SpaceId:
    space_id = SpaceId(owner or principal.username, name)
    if not may_write(principal, space_id.owner):
        raise Forbidden(f"you cannot create Spaces for {space_id.owner}",
                        hint="only admins create Spaces for other users")
    with platform.db.session() as session:
        if find_user(session, space_id.owner) is None:
            raise NotFound(f"user {space_id.owner!r} not found",
                           hint="a Space belongs to an existing user")
    return space_id


def _remove_repo(settings: Settings, space_id: SpaceId) -> None:
    shutil.rmtree(space_id.repo_path(settings.repos_dir), ignore_errors=True)


def _new_record(platform: Platform, space_id: SpaceId, **fields: object) -> None:
    with platform.db.session() as session:
        space = create_space(session, space_id, **fields)  # type: ignore[arg-type]
        # Its live URL says "no app yet" rather than "not found" (builds.placeholder).
        with contextlib.suppress(redis.RedisError):
            show_unrun(platform.redis, space, Stage.NO_APP_FILE)
    # The record is new, so anything on disk under its path is an orphan of an earlier
    # Space of this name whose deletion did not finish: never hand its code to this one.
    _remove_repo(platform.settings, space_id)
    ensure_repo(platform.settings, space_id)


def _undo_create(platform: Platform, space_id: SpaceId) -> None:
    with platform.db.session() as session:
        space = get_space(session, space_id)
        delete_space(session, space)
    _remove_repo(platform.settings, space_id)


def create(
    platform: Platform, principal: Principal, *, name: str, owner: str | None = None,
    sdk: Sdk | str | None = None, private: bool = False, template: str | None = None,
    from_url: str | None = None,
) -> Created:
    if template and from_url:
        raise BadRequest("give a template or a URL to import, not both")
    space_id = _target(platform, principal, owner, name)
    settings = platform.settings
    tmpl = get_template(settings, template) if template else None
    if tmpl is not None:
        sdk = tmpl.config.sdk  # the template's README is what will build
    elif sdk is None:
        # A placeholder until the first push (or the import) is read: the build detects
        # the SDK from the README and files, and the push records it (push.on_push).
        sdk = UNDETECTED_SDK
    if from_url:
        parse_url(from_url)  # a typo is refused now; addresses are checked by the import
    _new_record(platform, space_id, sdk=sdk, private=private)
    try:
        if tmpl is not None:
            commit = init_from_template(settings, space_id, tmpl.path, principal.username)
        else:
            if from_url:
                # Off the request path (controller.imports): the Space is BUILDING now.
                start_import(platform, space_id, from_url, principal.username)
            return Created(_fresh(platform, space_id))
        build_id = first_build(platform, space_id, commit, principal.username)
    except BaseException:
        _undo_create(platform, space_id)
        raise
    return Created(_fresh(platform, space_id), build_id)


def duplicate(
    platform: Platform, principal: Principal, source: SpaceId, *, to_name: str,
    to_owner: str | None = None, private: bool | None = None,
) -> Created:
    """Copy ``source``'s code (every branch) and variables, not its secrets, and queue a
    build of the copy. The caller has checked that ``principal`` may read ``source``."""
    target = _target(platform, principal, to_owner, to_name)
    settings = platform.settings
    with platform.db.session() as session:
        original = get_space(session, source)
        fields = {f: getattr(original, f) for f in COPIED_FIELDS}
        sdk = original.sdk
        keep_private = bool(original.private) if private is None else private
        variables = [(v.key, v.value, v.description) for v in list_variables(session, original)]
    _new_record(platform, target, sdk=sdk, private=keep_private, **fields)
    try:
        commit = head_commit(settings, source)
        if commit is not None:
            run_git(["fetch", "--quiet", "--no-tags",
                     str(source.repo_path(settings.repos_dir)), "+refs/heads/*:refs/heads/*"],
                    git_dir=target.repo_path(settings.repos_dir))
        with platform.db.session() as session:
            copy = get_space(session, target)
            for key, value, description in variables:
                set_variable(session, copy, key, value, description)
        build_id = first_build(platform, target, commit, principal.username) if commit else None
    except BaseException:
        _undo_create(platform, target)
        raise
    return Created(_fresh(platform, target), build_id)


def change_settings(platform: Platform, space_id: SpaceId, **changes: object) -> Outcome:
    """Apply owner settings. Privacy and sleep time take effect at once on the running
    Space (route and scheduler record); new CPU or memory limits restart it."""
    unknown = set(changes) - set(SETTINGS_FIELDS) - {"dev_mode"}
    if unknown:
        raise BadRequest(f"unknown setting(s) {', '.join(sorted(unknown))}")
    dev_mode = changes.pop("dev_mode", None)
    if dev_mode is not None and devmode.set_dev_mode(platform, space_id, bool(dev_mode)):
        # The running container gets (or loses) the reloader: rebuilt from the head commit
        # and swapped in blue/green, as a push would be.
        runtime.rebuild(platform, space_id)
    with platform.db.session() as session:
        space = get_space(session, space_id)
        changed = {k: v for k, v in changes.items() if v is not None and getattr(space, k) != v}
        if changed:
            update_space(session, space, **changed)
        live = is_live(space)
    if not changed:
        return Outcome(_fresh(platform, space_id))
    apply_to_runtime(platform, space_id)
    restart = live and ({"cpu_limit", "memory_limit"} & set(changed))
    background = redeploy_later(platform, space_id) if restart else None
    return Outcome(_fresh(platform, space_id), background)


def delete(platform: Platform, space_id: SpaceId) -> None:
    """Stop its containers and remove its route, data volume, repository and records (its
    builds, secrets, variables and share links go with the record)."""
    settings = platform.settings
    with platform.db.session() as session:
        space = get_space(session, space_id)
        set_stage(session, space, Stage.DELETING)
        deployed = bool(space.deployed_image)
        builds = list_builds(session, space, limit=50)
        queued = [b.job_id for b in builds if b.job_id and not BuildStatus(b.status).is_final]
        built = deployed or any(b.image for b in builds)
    _cancel_jobs(platform, queued)
    starting = cancel_pending_start(platform, space_id, Stage.DELETING)
    if starting or deployed or SpaceRecords(platform.redis).get(space_id.key) is not None:
        # Only then can a container or volume exist; a Space never started needs no engine.
        platform.scheduler.remove(space_id.key, delete_volume=True)
    platform.routes.remove(space_id.key)
    if built:  # its images, which retention would otherwise keep forever
        remove_space_images(platform.docker, space_id)
    _remove_repo(settings, space_id)
    with platform.db.session() as session:
        space = get_space(session, space_id)
        delete_space(session, space)


def _cancel_jobs(platform: Platform, job_ids: list[str]) -> None:
    from rq.exceptions import InvalidJobOperation

    from podium.builds.queue import fetch_job

    for job_id in job_ids:
        job = fetch_job(platform.settings, platform.redis, job_id)
        if job is None:
            continue
        try:
            job.cancel()
        except InvalidJobOperation:
            pass  # running or ended: with its record gone the job ends as CANCELLED


def _fresh(platform: Platform, space_id: SpaceId) -> Space:
    with platform.db.session() as session:
        return get_space(session, space_id)


__all__ = [
    "Created", "Outcome", "change_settings", "create", "delete", "duplicate", "space_urls",
]
