"""What to run for a Space: ``RunSpec``. Built by the controller from the store and the
builder's image labels; persisted (without secrets) so a wake or a restart after a controller
restart knows what to run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from podium.config import Settings
from podium.names import SpaceId
from podium.routes import Route, container_env
from podium.spaces.stage import Sdk, Stage

# Where an SDK's app answers "I am up" (relative to any base URL path the app serves under).
HEALTH_PATHS: dict[str, str] = {
    Sdk.GRADIO: "/",
    Sdk.STREAMLIT: "/_stcore/health",
    Sdk.STATIC: "/",
    Sdk.DOCKER: "/",
}


@dataclass(slots=True)
class RunSpec:
    space_id: SpaceId
    image: str
    app_port: int
    sdk: str
    commit: str
    # Non-secret environment: the Spaces built-ins, the proxy's needs and the Space's variables.
    env: dict[str, str] = field(default_factory=dict)
    # Only ever placed in the container's environment; never persisted.
    secrets: dict[str, str] = field(default_factory=dict)
    cpus: float = 1.0
    memory: str = "2g"
    pids: int = 512
    startup_timeout: float = 1800.0
    # Seconds without traffic before the Space sleeps; 0 = never.
    sleep_time: int = 0
    title: str = ""
    private: bool = False
    disable_embedding: bool = False
    custom_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_space(
        cls,
        settings: Settings,
        space_id: SpaceId,
        image: str,
        *,
        app_port: int,
        sdk: str,
        commit: str,
        title: str = "",
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        **overrides: Any,
    ) -> RunSpec:
        """A spec with Spaces' environment and the settings' limits filled in."""
        env = spaces_env(settings, space_id, sdk=sdk, app_port=app_port, title=title)
        env.update(variables or {})
        values: dict[str, Any] = {
            "cpus": settings.space_cpus,
            "memory": settings.space_memory,
            "pids": settings.space_pids,
            "startup_timeout": float(settings.startup_timeout),
            "sleep_time": settings.sleep_time,
        }
        values.update(overrides)
        return cls(
            space_id=space_id, image=image, app_port=app_port, sdk=sdk, commit=commit,
            env=env, secrets=dict(secrets or {}), title=title, **values,
        )

    @property
    def key(self) -> str:
        return self.space_id.key

    @property
    def health_path(self) -> str:
        base = self.env.get("STREAMLIT_SERVER_BASE_URL_PATH", "").strip("/")
        path = HEALTH_PATHS.get(self.sdk, "/")
        return f"/{base}{path}" if base and self.sdk == Sdk.STREAMLIT else path

    def container_env(self) -> dict[str, str]:
        return {**self.env, **self.secrets}

    def with_secrets(self, secrets: dict[str, str]) -> RunSpec:
        return replace(self, secrets=dict(secrets))

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("secrets")
        data["space_id"] = str(self.space_id)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> RunSpec:
        data = json.loads(raw)
        data["space_id"] = SpaceId.parse(data["space_id"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def spaces_env(
    settings: Settings, space_id: SpaceId, *, sdk: str, app_port: int, title: str = ""
) -> dict[str, str]:
    """The environment Hugging Face Spaces gives every app, plus what the proxy needs."""
    env = {
        "SYSTEM": "spaces",
        "SPACE_ID": str(space_id),
        "SPACE_HOST": space_id.hostname(settings.domain),
        "SPACE_AUTHOR_NAME": space_id.owner,
        "SPACE_REPO_NAME": space_id.name,
        "SPACE_TITLE": title or space_id.name,
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": str(app_port),
        "STREAMLIT_SERVER_ADDRESS": "0.0.0.0",
        "STREAMLIT_SERVER_PORT": str(app_port),
        "PORT": str(app_port),
    }
    env.update(container_env(space_id, sdk))
    return env


def route_for(spec: RunSpec, upstream: str | None, stage: Stage) -> Route:
    """The proxy's view of a Space deployed from ``spec``."""
    return Route.for_space(
        spec.space_id, upstream=upstream, sdk=spec.sdk, stage=stage.value,
        private=spec.private, disable_embedding=spec.disable_embedding,
        custom_headers=dict(spec.custom_headers),
    )
