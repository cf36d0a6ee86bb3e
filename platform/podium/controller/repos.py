"""The Hub's repository operations on Spaces that Podium's own lifecycle does not have as
one step: create with secrets, variables and sleep time (huggingface_hub's create_repo),
and move (rename or transfer: move_repo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from podium.errors import BadRequest
from podium.names import SpaceId
from podium.spaces.stage import Sdk
from podium.store import get_space, secret_values, set_secret, set_variable
from podium.store.models import Space

from . import lifecycle
from .access import Principal
from .platform import Platform

# The only hardware this host runs Spaces on (Settings' CPU and memory limits apply).
HARDWARE = "cpu-basic"


@dataclass(frozen=True, slots=True)
class EnvEntry:
    key: str
    value: str
    description: str | None = None


def check_hardware(flavor: str | None) -> None:
    if flavor and flavor != HARDWARE:
        raise BadRequest(
            f"hardware {flavor!r} is not offered here: this Podium host runs every Space on "
            f"{HARDWARE!r} (CPU, within its CPU and memory limits); no GPU flavors",
            hint=f"request {HARDWARE!r} or leave the hardware unset",
        )


def create(
    platform: Platform, principal: Principal, space_id: SpaceId, *, sdk: Sdk, private: bool,
    secrets: Sequence[EnvEntry] = (), variables: Sequence[EnvEntry] = (),
    sleep_time: int | None = None, hardware: str | None = None,
) -> Space:
    check_hardware(hardware)
    created = lifecycle.create(platform, principal, name=space_id.name, owner=space_id.owner,
                               sdk=sdk, private=private)
    set_env(platform, space_id, secrets, variables)
    if sleep_time is not None:
        lifecycle.change_settings(platform, space_id, sleep_time=sleep_time)
    return created.space


def set_env(platform: Platform, space_id: SpaceId, secrets: Sequence[EnvEntry],
            variables: Sequence[EnvEntry]) -> None:
    with platform.db.session() as session:
        space = get_space(session, space_id)
        for entry in secrets:
            set_secret(session, platform.cipher, space, entry.key, entry.value)
        for entry in variables:
            set_variable(session, space, entry.key, entry.value, entry.description)


def move(platform: Platform, principal: Principal, source: SpaceId, target: SpaceId) -> Space:
    """Rename or transfer: a copy under the new name (code, every branch, variables, settings
    and, unlike a duplicate, secrets), built like a push, then the old Space deleted. The
    caller has checked that ``principal`` may change ``source``."""
    if source.key == target.key:
        raise BadRequest(f"{source} is already named {target}")
    with platform.db.session() as session:
        original = get_space(session, source)
        secrets = [EnvEntry(k, v) for k, v in
                   secret_values(session, platform.cipher, original).items()]
        private = bool(original.private)
    created = lifecycle.duplicate(platform, principal, source, to_name=target.name,
                                  to_owner=target.owner, private=private)
    set_env(platform, target, secrets, ())
    lifecycle.delete(platform, source)
    return created.space


def duplicate(
    platform: Platform, principal: Principal, source: SpaceId, target: SpaceId, *,
    private: bool | None, secrets: Sequence[EnvEntry] = (),
    variables: Sequence[EnvEntry] = (), sleep_time: int | None = None,
    hardware: str | None = None,
) -> Space:
    """huggingface_hub's duplicate_repo: the copy (code and variables, never the source's
    secrets), then the secrets, variables and sleep time the caller gave for it."""
    check_hardware(hardware)
    created = lifecycle.duplicate(platform, principal, source, to_name=target.name,
                                  to_owner=target.owner, private=private)
    set_env(platform, target, secrets, variables)
    if sleep_time is not None:
        return lifecycle.change_settings(platform, target, sleep_time=sleep_time).space
    return created.space
