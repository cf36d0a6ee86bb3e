"""The Hub's account and repository routes, so huggingface_hub works unchanged against
Podium: whoami-v2, repos/create, repos/delete, repos/move, PUT settings, hardware. Podium
hosts Spaces only; another repo type is refused with a clear error."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from podium.controller import lifecycle, repos
from podium.errors import AlreadyExists, BadRequest, ConfigError, NoAppFile
from podium.names import SpaceId
from podium.spaces.config import load_space_config_from_files
from podium.spaces.stage import Sdk

from .deps import CurrentUser, PlatformDep, WritableSpace, WritingUser, writable_space
from .runtime import runtime_of
from .schemas import ENV_KEY, Runtime
from .schemas import Request as Body

router = APIRouter(prefix="/api", tags=["hub"])


class EnvIn(Body):
    key: str = ENV_KEY
    value: str = Field(max_length=64 * 1024)
    description: str | None = Field(None, max_length=300)


class RepoIn(Body):
    name: str = Field(min_length=1, max_length=96)
    organization: str | None = Field(None, max_length=39)
    type: str | None = Field(None, max_length=16)
    sdk: Sdk | None = None
    private: bool | None = None
    visibility: Literal["public", "private", "protected"] | None = None
    hardware: str | None = Field(None, max_length=64)
    sleepTimeSeconds: int | None = Field(None, ge=0, le=365 * 24 * 3600)  # noqa: N815
    secrets: list[EnvIn] = Field(default_factory=list, max_length=100)
    variables: list[EnvIn] = Field(default_factory=list, max_length=100)


class MoveIn(Body):
    fromRepo: str = Field(max_length=140)  # noqa: N815 - the Hub's spelling
    toRepo: str = Field(max_length=140)  # noqa: N815
    type: str | None = Field(None, max_length=16)


class HubSettingsIn(Body):
    private: bool | None = None
    visibility: Literal["public", "private", "protected"] | None = None
    gated: Literal["auto", "manual", False] | None = None


class YamlIn(Body):
    content: str = Field(max_length=1 << 20)
    repoType: str | None = Field(None, max_length=16)  # noqa: N815


class HardwareIn(Body):
    flavor: str = Field(max_length=64)


def _spaces_only(repo_type: str | None) -> None:
    if repo_type != "space":
        raise BadRequest(f"this host keeps Spaces only, not {repo_type or 'model'} repos",
                         hint='pass repo_type="space"')


def _private(private: bool | None, visibility: str | None) -> bool | None:
    return private if visibility is None else visibility != "public"


@router.get("/whoami-v2")
def whoami(principal: CurrentUser) -> dict[str, Any]:
    role = "write" if principal.can_write_scope else "read"
    return {
        "type": "user", "id": str(principal.user_id), "name": principal.username,
        "fullname": principal.username, "isPro": False, "canPay": False, "orgs": [],
        "auth": {"type": "access_token", "accessToken": {"displayName": "podium", "role": role}},
    }


@router.post("/repos/create")
def create(body: RepoIn, request: Request, platform: PlatformDep,
           principal: WritingUser) -> Any:
    _spaces_only(body.type)
    if body.sdk is None:
        raise BadRequest("a Space needs an sdk", hint=f"one of {', '.join(Sdk)}")
    space_id = SpaceId(body.organization or principal.username, body.name)
    env = [repos.EnvEntry(e.key, e.value, e.description) for e in body.variables]
    secrets = [repos.EnvEntry(e.key, e.value) for e in body.secrets]
    url = f"{str(request.base_url).rstrip('/')}/spaces/{space_id}"
    try:
        repos.create(platform, principal, space_id, sdk=body.sdk,
                     private=bool(_private(body.private, body.visibility)), secrets=secrets,
                     variables=env, sleep_time=body.sleepTimeSeconds, hardware=body.hardware)
    except AlreadyExists as exc:
        # The Hub's 409 carries the existing repo's url: create_repo(exist_ok=True) reads it.
        return JSONResponse({**exc.to_dict(), "url": url}, status_code=409)
    return {"url": url, "name": str(space_id), "id": str(space_id)}


@router.delete("/repos/delete")
def delete(body: RepoIn, platform: PlatformDep, principal: WritingUser) -> dict[str, bool]:
    _spaces_only(body.type)
    space_id = SpaceId(body.organization or principal.username, body.name)
    writable_space(platform, principal, space_id)
    lifecycle.delete(platform, space_id)
    return {"ok": True}


@router.post("/repos/move")
def move(body: MoveIn, platform: PlatformDep, principal: WritingUser) -> dict[str, str]:
    _spaces_only(body.type)
    source, target = SpaceId.parse(body.fromRepo), SpaceId.parse(body.toRepo)
    writable_space(platform, principal, source)
    moved = repos.move(platform, principal, source, target)
    return {"id": f"{moved.owner}/{moved.name}"}


@router.put("/spaces/{owner}/{name}/settings")
def hub_settings(body: HubSettingsIn, space: WritableSpace, platform: PlatformDep,
                 tasks: BackgroundTasks) -> dict[str, Any]:
    """The Hub's update_repo_settings: visibility only (gating has no meaning here)."""
    if body.gated not in (None, False):
        raise BadRequest("gated access is not offered here", hint="use a private Space")
    private = _private(body.private, body.visibility)
    outcome = lifecycle.change_settings(platform, space.space_id, private=private)
    if outcome.background is not None:
        tasks.add_task(outcome.background)
    return {"private": bool(outcome.space.private)}


@router.post("/spaces/{owner}/{name}/hardware")
def hardware(body: HardwareIn, space: WritableSpace, platform: PlatformDep) -> Runtime:
    repos.check_hardware(body.flavor)
    return runtime_of(platform, space)


@router.post("/validate-yaml")
def validate_yaml(body: YamlIn) -> Any:
    """README front matter checked as the build will (upload_folder asks before it commits);
    a missing app file is the build's to report, once the files are there."""
    try:
        load_space_config_from_files({"README.md": body.content})
    except NoAppFile:
        pass
    except ConfigError as exc:
        return JSONResponse({"errors": [{"message": exc.message}], **exc.to_dict()},
                            status_code=400)
    return {"errors": [], "warnings": []}
