"""A Space's secrets (write-only: names and dates come back, never values) and variables,
in huggingface_hub's shapes. A change restarts the Space when a version of it is live."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks
from sqlalchemy import select

from podium.controller import runtime as control
from podium.controller.platform import Platform
from podium.names import SpaceId
from podium.store import (
    Secret,
    delete_secret,
    delete_variable,
    get_space,
    list_variables,
    set_secret,
    set_variable,
)

from .deps import PlatformDep, ReadableSpace, WritableSpace
from .schemas import KeyIn, Ok, SecretIn, SecretOut, VariableIn, VariableOut

router = APIRouter(prefix="/api/spaces/{owner}/{name}", tags=["secrets"])


def _restart_if_live(platform: Platform, space_id: SpaceId, tasks: BackgroundTasks) -> None:
    outcome = control.env_changed(platform, space_id)
    if outcome.background is not None:
        tasks.add_task(outcome.background)


@router.get("/secrets")
def list_secrets(space: WritableSpace, platform: PlatformDep) -> list[SecretOut]:
    with platform.db.session() as session:
        rows = session.scalars(select(Secret).where(Secret.space_id == space.id)
                               .order_by(Secret.key))
        return [SecretOut(key=row.key, updatedAt=row.updated_at) for row in rows]


@router.post("/secrets")
def add_secret(
    body: SecretIn, space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks,
) -> SecretOut:
    with platform.db.session() as session:
        secret = set_secret(session, platform.cipher, get_space(session, space.space_id),
                            body.key, body.value)
        out = SecretOut(key=secret.key, updatedAt=secret.updated_at)
    _restart_if_live(platform, space.space_id, tasks)
    return out


@router.delete("/secrets")
def remove_secret(
    body: KeyIn, space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks,
) -> Ok:
    with platform.db.session() as session:
        delete_secret(session, get_space(session, space.space_id), body.key)
    _restart_if_live(platform, space.space_id, tasks)
    return Ok()


def _variables(platform: Platform, space_id: SpaceId) -> dict[str, VariableOut]:
    with platform.db.session() as session:
        rows = list_variables(session, get_space(session, space_id))
        return {
            row.key: VariableOut(value=row.value, description=row.description,
                                 updatedAt=row.updated_at)
            for row in rows
        }


@router.get("/variables")
def list_vars(space: ReadableSpace, platform: PlatformDep) -> dict[str, VariableOut]:
    """Variables are not secret: anyone who can read the Space sees them, as on Spaces."""
    return _variables(platform, space.space_id)


@router.post("/variables")
def add_variable(
    body: VariableIn, space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks,
) -> dict[str, VariableOut]:
    """Every variable after the change, as the Hub answers (add_space_variable reads it)."""
    with platform.db.session() as session:
        set_variable(session, get_space(session, space.space_id), body.key, body.value,
                     body.description)
    _restart_if_live(platform, space.space_id, tasks)
    return _variables(platform, space.space_id)


@router.delete("/variables")
def remove_variable(
    body: KeyIn, space: WritableSpace, platform: PlatformDep, tasks: BackgroundTasks,
) -> dict[str, VariableOut]:
    """Every variable left, as the Hub answers (delete_space_variable reads it)."""
    with platform.db.session() as session:
        delete_variable(session, get_space(session, space.space_id), body.key)
    _restart_if_live(platform, space.space_id, tasks)
    return _variables(platform, space.space_id)
