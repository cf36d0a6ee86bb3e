"""Request and response models of the JSON API. Field names follow Hugging Face Spaces where
a Spaces client reads them (colorFrom, gcTimeout, updatedAt...), Podium's own otherwise."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from podium.config import Settings
from podium.controller.urls import space_urls
from podium.spaces.stage import BuildStatus, Sdk, Stage
from podium.store.models import ApiToken, Build, ShareLink, Space

MEMORY_PATTERN = r"^[0-9]+(\.[0-9]+)?[kKmMgG]?[bB]?$"
# Database integer ids in paths: anything larger cannot exist and must not reach the driver.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Request(BaseModel):
    # Spaces clients send fields Podium does not use; ignore them rather than refuse.
    model_config = ConfigDict(extra="ignore")


# --- users and sessions ------------------------------------------------------------------


class LoginIn(Request):
    username: str = Field(min_length=1, max_length=39)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    username: str
    is_admin: bool


class UserIn(Request):
    username: str = Field(min_length=1, max_length=39)
    password: str = Field(min_length=1, max_length=1024)
    email: str | None = Field(None, max_length=254)
    is_admin: bool = False


class PasswordIn(Request):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserPatch(Request):
    # An admin disables (true) or enables (false) an account.
    disabled: bool


class UserAdminView(BaseModel):
    username: str
    is_admin: bool
    disabled: bool


class UserProfile(BaseModel):
    username: str
    spaces_count: int


class Ok(BaseModel):
    ok: bool = True


# --- tokens ------------------------------------------------------------------------------


class TokenIn(Request):
    name: str = Field(min_length=1, max_length=100)
    scope: Literal["read", "write"] = "write"


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(id=token.id, name=token.name, prefix=token.prefix, scope=str(token.scopes),
                   created_at=token.created_at, last_used_at=token.last_used_at)


class NewToken(BaseModel):
    id: int
    name: str
    scope: str
    token: str  # the plaintext, shown this once


# --- Spaces ------------------------------------------------------------------------------


class SpaceOut(BaseModel):
    id: str
    owner: str
    name: str
    sdk: Sdk
    title: str | None
    emoji: str | None
    colorFrom: str | None  # noqa: N815 - Spaces' spelling
    colorTo: str | None  # noqa: N815
    short_description: str | None
    pinned: bool
    private: bool
    likes: int
    stage: Stage
    stage_message: str | None
    error_detail: str | None
    head_commit: str | None
    deployed_commit: str | None
    sleep_time: int | None
    cpu_limit: float | None
    memory_limit: str | None
    # Dev mode (issue 14 item 2): a code-only push reloads inside the running container.
    dev_mode: bool = False
    created_at: datetime
    updated_at: datetime
    host: str
    url: str
    git_url: str
    page: str
    # The Hub's names for the same facts, which huggingface_hub's SpaceInfo reads.
    author: str
    sha: str | None
    createdAt: datetime  # noqa: N815
    lastModified: datetime  # noqa: N815
    subdomain: str
    cardData: dict[str, object]  # noqa: N815
    tags: list[str]
    # Only where the Hub sends them: one Space's info, or a listing with full=true.
    siblings: list[dict[str, object]] | None = None
    runtime: Runtime | None = None

    @classmethod
    def of(cls, space: Space, settings: Settings) -> SpaceOut:
        urls = space_urls(settings, space.space_id)
        card = {"title": space.title, "emoji": space.emoji, "colorFrom": space.color_from,
                "colorTo": space.color_to, "sdk": space.sdk,
                "short_description": space.short_description, "pinned": bool(space.pinned)}
        return cls(
            author=space.owner, sha=space.head_commit, createdAt=space.created_at,
            lastModified=space.updated_at, subdomain=space.subdomain, tags=[str(space.sdk)],
            cardData={k: v for k, v in card.items() if v is not None},
            id=f"{space.owner}/{space.name}", owner=space.owner, name=space.name,
            sdk=space.sdk, title=space.title, emoji=space.emoji, colorFrom=space.color_from,
            colorTo=space.color_to, short_description=space.short_description,
            pinned=bool(space.pinned), private=bool(space.private), likes=space.likes or 0,
            stage=space.stage, stage_message=space.stage_message,
            error_detail=space.error_detail, head_commit=space.head_commit,
            deployed_commit=space.deployed_commit, sleep_time=space.sleep_time,
            cpu_limit=space.cpu_limit, memory_limit=space.memory_limit,
            dev_mode=bool(space.dev_mode), created_at=space.created_at,
            updated_at=space.updated_at, **urls,
        )


class SpaceIn(Request):
    name: str = Field(min_length=1, max_length=96)
    owner: str | None = Field(None, max_length=39)
    # Optional with a template or an import: the Space's README then says which.
    sdk: Sdk | None = None
    private: bool = False
    template: str | None = Field(None, max_length=100)
    from_url: str | None = Field(None, max_length=2000)


class DuplicateIn(Request):
    # Podium's fields, or the Hub's "repository": "owner/name" (huggingface_hub).
    to_name: str | None = Field(None, min_length=1, max_length=96)
    to_owner: str | None = Field(None, max_length=39)
    repository: str | None = Field(None, max_length=140)
    private: bool | None = None
    visibility: Literal["public", "private", "protected"] | None = None
    hardware: str | None = Field(None, max_length=64)
    sleepTimeSeconds: int | None = Field(None, ge=0, le=365 * 24 * 3600)  # noqa: N815
    secrets: list[SecretIn] = Field(default_factory=list, max_length=100)
    variables: list[VariableIn] = Field(default_factory=list, max_length=100)


class SettingsIn(Request):
    private: bool | None = None
    # Seconds without traffic before the Space sleeps; 0 = never.
    sleep_time: int | None = Field(None, ge=0, le=365 * 24 * 3600)
    cpu_limit: float | None = Field(None, gt=0, le=64)
    memory_limit: str | None = Field(None, max_length=16, pattern=MEMORY_PATTERN)
    # Dev mode on (Gradio, Streamlit) or off: the running version is rebuilt to match.
    dev_mode: bool | None = None


class SleepTimeIn(Request):
    seconds: int = Field(ge=0, le=365 * 24 * 3600)


# --- runtime (Spaces' shape) -------------------------------------------------------------


class Hardware(BaseModel):
    current: str = "cpu-basic"
    requested: str = "cpu-basic"


class Domain(BaseModel):
    domain: str
    stage: str


class BuildOut(BaseModel):
    id: str
    status: BuildStatus
    commit: str
    failure_reason: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, build: Build) -> BuildOut:
        return cls(id=build.id, status=build.status, commit=build.commit,
                   failure_reason=build.failure_reason, queued_at=build.queued_at,
                   started_at=build.started_at, finished_at=build.finished_at)


class Runtime(BaseModel):
    stage: Stage
    hardware: Hardware
    gcTimeout: int | None  # noqa: N815 - Spaces' spelling
    errorMessage: str | None  # noqa: N815
    sha: str | None
    domains: list[Domain]
    build: BuildOut | None


# --- secrets and variables ---------------------------------------------------------------

ENV_KEY = Field(min_length=1, max_length=128)


class SecretIn(Request):
    key: str = ENV_KEY
    value: str = Field(max_length=64 * 1024)
    description: str | None = Field(None, max_length=300)


class VariableIn(SecretIn):
    pass


class KeyIn(Request):
    key: str = ENV_KEY


class SecretOut(BaseModel):
    key: str
    updatedAt: datetime  # noqa: N815


class VariableOut(BaseModel):
    value: str
    description: str | None
    updatedAt: datetime  # noqa: N815


# --- share links -------------------------------------------------------------------------


class ShareIn(Request):
    expires_in_s: int | None = Field(None, ge=5, le=366 * 24 * 3600)
    max_views: int | None = Field(None, ge=1, le=1_000_000)


class ShareOut(BaseModel):
    id: int
    prefix: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    max_views: int | None
    views: int
    # Only in the answer to its creation: the link itself is not stored.
    url: str | None = None

    @classmethod
    def of(cls, link: ShareLink, url: str | None = None) -> ShareOut:
        return cls(id=link.id, prefix=link.prefix, created_by=link.created_by,
                   created_at=link.created_at, expires_at=link.expires_at,
                   max_views=link.max_views, views=link.views, url=url)


# --- files and templates -----------------------------------------------------------------


class TreeItem(BaseModel):
    path: str
    type: Literal["file", "directory", "submodule"]
    size: int | None


class TemplateOut(BaseModel):
    name: str
    title: str | None
    emoji: str | None
    sdk: Sdk
    short_description: str | None
