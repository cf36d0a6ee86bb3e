"""A Space's configuration: the YAML front matter of its README.md, as Hugging Face Spaces
defines it (https://huggingface.co/docs/hub/spaces-config-reference).

The YAML is composed into a node tree before it is turned into Python values, for two
reasons: every error can name the README line of the offending key, and numbers like
``sdk_version: 4.10`` keep their written text instead of becoming the float 4.1.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from podium.errors import ConfigError, NoAppFile
from podium.spaces.detect import Detector, detect_sdk
from podium.spaces.frontmatter import FrontMatter, read_front_matter
from podium.spaces.stage import Sdk

README = "README.md"
COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
# Spaces lets a Space set only these response headers, each to one of these values.
CUSTOM_HEADERS: dict[str, tuple[str, ...]] = {
    "cross-origin-embedder-policy": ("require-corp", "credentialless", "unsafe-none"),
    "cross-origin-opener-policy": ("same-origin", "same-origin-allow-popups", "unsafe-none"),
    "cross-origin-resource-policy": ("same-site", "same-origin", "cross-origin"),
}
DEFAULT_STARTUP_TIMEOUT = 30 * 60
MAX_STARTUP_TIMEOUT = 6 * 3600
SHORT_DESCRIPTION_MAX = 60
DEFAULT_APP_FILE = {
    Sdk.GRADIO: "app.py", Sdk.STREAMLIT: "app.py", Sdk.STATIC: "index.html",
    Sdk.DOCKER: "Dockerfile",
}
DEFAULT_APP_PORT = {Sdk.STREAMLIT: 8501}
# Keys Spaces knows that Podium keeps (in ``extra``) but does not act on.
KNOWN_UNUSED_KEYS = frozenset({
    "hf_oauth", "hf_oauth_scopes", "hf_oauth_expiration_minutes", "hf_oauth_authorized_org",
    "preload_from_hub", "suggested_hardware", "suggested_storage", "thumbnail",
    "duplicated_from", "language", "license_name", "license_link", "pipeline_tag",
})
# A front matter this large is not a config; refuse before YAML builds deep structures.

_SDKS = tuple(s.value for s in Sdk)
_CHOICES = {"sdk": _SDKS, "color_from": COLORS, "color_to": COLORS, "header": ("mini", "default")}
_PATTERNS = {
    "sdk_version": (
        re.compile(r"^\d+(?:\.\d+){0,3}(?:(?:a|b|rc)\d+)?(?:\.(?:post|dev)\d+)?$"),
        "a version number",
    ),
    "python_version": (re.compile(r"^3(?:\.\d+){0,2}$"), "a Python 3 version"),
    "base_path": (re.compile(r"^/[^\s\x00-\x1f]*$"), "a path starting with '/'"),
}
_DURATION_RE = re.compile(r"(\d+)\s*([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_HINTS = {
    "sdk": f"use one of: {', '.join(s.value for s in Sdk)}",
    "sdk_version": "write the SDK's version as on PyPI, e.g. sdk_version: 5.49.1",
    "python_version": "write 3, 3.N or 3.N.M, e.g. python_version: \"3.11\"",
    "app_port": "use a port number between 1 and 65535, e.g. app_port: 7860",
    "colorFrom": f"use one of: {', '.join(COLORS)}",
    "colorTo": f"use one of: {', '.join(COLORS)}",
    "pinned": "use true or false",
    "disable_embedding": "use true or false",
    "fullWidth": "use true or false",
    "startup_duration_timeout": "write a duration such as 30m, 1h or 1h30m (at most 6h)",
    "custom_headers": "allowed: "
    + "; ".join(f"{k}: {'|'.join(v)}" for k, v in CUSTOM_HEADERS.items()),
    "app_file": "give a path relative to the repository root, e.g. app_file: app.py",
    "short_description": f"keep it to {SHORT_DESCRIPTION_MAX} characters",
    "base_path": "start it with '/', e.g. base_path: /docs",
    "header": "use mini or default",
}
_STR_FIELDS = frozenset({
    "sdk", "sdk_version", "python_version", "app_file", "title", "emoji", "colorFrom",
    "colorTo", "short_description", "license", "base_path", "header",
})


def parse_duration(value: object) -> int:
    """Seconds from an int (already seconds) or a string like ``30m``, ``1h30m``, ``90``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    if not text or _DURATION_RE.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration")
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_RE.findall(text))


def _check_relative_path(value: str) -> str:
    path = PurePosixPath(value.replace("\\", "/"))
    if not value or "\x00" in value or path.is_absolute() or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r} must be a path inside the repository")
    if ".." in path.parts:
        raise ValueError(f"{value!r} points outside the repository")
    return str(path)


class SpaceConfig(BaseModel):
    """The validated front matter. Field names are Podium's; YAML keys are Spaces'."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    sdk: Sdk
    sdk_version: str | None = None
    python_version: str | None = None
    app_file: str = "app.py"
    app_port: int = Field(7860, ge=1, le=65535)
    title: str | None = None
    emoji: str | None = None
    color_from: str = Field("indigo", alias="colorFrom")
    color_to: str = Field("purple", alias="colorTo")
    short_description: str | None = Field(None, max_length=SHORT_DESCRIPTION_MAX)
    pinned: bool = False
    license: str | None = None
    startup_duration_timeout: int = DEFAULT_STARTUP_TIMEOUT
    disable_embedding: bool = False
    custom_headers: dict[str, str] = Field(default_factory=dict)
    base_path: str | None = None
    full_width: bool = Field(False, alias="fullWidth")
    header: str = "default"
    models: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    # Other keys, known to Spaces or not, kept as written.
    extra: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    @property
    def requested_startup_timeout(self) -> int | None:
        """startup_duration_timeout in seconds when the README sets it, else None (the
        platform's default applies; see Settings.startup_timeout_for)."""
        if "startup_duration_timeout" not in self.model_fields_set:
            return None
        return self.startup_duration_timeout

    @property
    def app_dir(self) -> str:
        """Folder holding app_file, relative to the repository root ('.' for the root)."""
        return str(PurePosixPath(self.app_file).parent)

    @model_validator(mode="before")
    @classmethod
    def _sdk_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        sdk = str(data.get("sdk", "")).strip().lower()
        if sdk in _SDKS:
            data = dict(data)
            if data.get("app_file") is None:
                data["app_file"] = DEFAULT_APP_FILE[Sdk(sdk)]
            if data.get("app_port") is None:
                data["app_port"] = DEFAULT_APP_PORT.get(Sdk(sdk), 7860)
        return data

    @field_validator("sdk", "color_from", "color_to", "header", mode="before")
    @classmethod
    def _choice(cls, value: Any, info: ValidationInfo) -> Any:
        allowed = _CHOICES[info.field_name or ""]
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return text

    @field_validator("sdk_version", "python_version", "base_path")
    @classmethod
    def _pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        pattern, what = _PATTERNS[info.field_name or ""]
        if value is not None and not pattern.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not {what}")
        return value.strip() if value else value

    @field_validator("app_file")
    @classmethod
    def _app_file(cls, value: str) -> str:
        return _check_relative_path(value.strip())

    @field_validator("app_port", mode="before")
    @classmethod
    def _app_port(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML `yes` must not become port 1
            raise ValueError(f"{value!r} is not a port number")
        return value

    @field_validator("startup_duration_timeout", mode="before")
    @classmethod
    def _startup_timeout(cls, value: Any) -> int:
        seconds = parse_duration(value)
        if not 0 < seconds <= MAX_STARTUP_TIMEOUT:
            raise ValueError(f"{value!r} is not between 1s and {MAX_STARTUP_TIMEOUT // 3600}h")
        return seconds

    @field_validator("custom_headers")
    @classmethod
    def _custom_headers(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, header_value in value.items():
            key, val = name.strip().lower(), header_value.strip().lower()
            if key not in CUSTOM_HEADERS:
                raise ValueError(f"header {name!r} is not allowed")
            if val not in CUSTOM_HEADERS[key]:
                raise ValueError(f"{name}: {header_value!r} is not allowed")
            out[key] = val
        return out

    @field_validator("models", "datasets", "tags", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        # Spaces accepts a single name where a list is meant.
        return [value] if isinstance(value, str) else value


def parse_front_matter(text: str) -> tuple[dict, str]:
    """The front matter as plain data and the README body after it.

    A README without front matter gives ``({}, text)``. Raises ConfigError for YAML that
    cannot be read, is not a mapping, repeats a key, or is never closed.
    """
    fm = read_front_matter(text, _STR_FIELDS)
    return fm.data, fm.body


# --- building the config --------------------------------------------------------------------


def _from_front_matter(fm: FrontMatter) -> SpaceConfig:
    aliases = {f.alias or name for name, f in SpaceConfig.model_fields.items()}
    typed = {k: v for k, v in fm.data.items() if k in aliases - {"extra", "warnings"}}
    extra = {k: v for k, v in fm.data.items() if k not in typed}
    warnings = [
        f"unknown key '{k}' on line {fm.key_lines.get(k, '?')} is ignored"
        for k in extra if k not in KNOWN_UNUSED_KEYS
    ]
    if "sdk" not in typed:
        raise ConfigError(
            "the front matter has no 'sdk'", field="sdk", line=fm.start_line,
            hint=f"add a line such as 'sdk: gradio' ({_HINTS['sdk']})",
        )
    try:
        config = SpaceConfig.model_validate({**typed, "extra": extra, "warnings": warnings})
    except ValidationError as exc:
        raise _validation_error(exc, fm.key_lines) from None
    if config.sdk in (Sdk.STATIC, Sdk.DOCKER) and config.sdk_version:
        config.warnings.append(f"sdk_version is ignored for sdk: {config.sdk.value}")
    return config


def _validation_error(exc: ValidationError, key_lines: Mapping[str, int]) -> ConfigError:
    err = exc.errors()[0]
    key = str(err["loc"][0]) if err["loc"] else None
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] != "value_error":
        message = f"{message} (got {err.get('input')!r})"
    where = key or ""
    return ConfigError(message, field=key, line=key_lines.get(where), hint=_HINTS.get(where))


def _detected(
    files: list[str], read: Callable[[str], str], detectors: Sequence[Detector],
) -> SpaceConfig:
    found = detect_sdk(files, read, detectors)
    if found is None:
        raise ConfigError(
            "README.md has no front matter and no app was found to guess the SDK from",
            field="sdk",
            hint="start README.md with a front matter block, e.g.\n---\nsdk: gradio\n"
            "app_file: app.py\n---\n(or add an app.py importing gradio or streamlit, "
            "a Dockerfile, or an index.html)",
        )
    sdk, app_file = found
    return SpaceConfig(
        sdk=sdk, app_file=app_file,
        warnings=[f"README.md has no front matter: detected sdk {sdk.value} from {app_file}"],
    )


class _OutsideRepo(OSError):
    """A path (through '..' or a symlink) that leaves the repository."""


def _load(
    files: list[str], read: Callable[[str], str], is_file: Callable[[str], bool],
    detectors: Sequence[Detector],
) -> SpaceConfig:
    fm = FrontMatter(present=False)
    if README in files:
        try:
            fm = read_front_matter(read(README), _STR_FIELDS)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"README.md cannot be read as UTF-8 text: {exc}") from None
    config = _from_front_matter(fm) if fm.present else _detected(files, read, detectors)
    required = "Dockerfile" if config.sdk is Sdk.DOCKER else config.app_file
    line = fm.key_lines.get("app_file")
    try:
        found = is_file(required)
    except _OutsideRepo:
        raise ConfigError(f"'{required}' resolves outside the repository", field="app_file",
                          line=line, hint=_HINTS["app_file"]) from None
    if not found:
        candidates = sorted(f for f in files if f.endswith((".py", ".html")) and "/" not in f)
        seen = f" (top-level candidates: {', '.join(candidates[:5])})" if candidates else ""
        raise NoAppFile(
            f"app file '{required}' not found in the repository", field="app_file", line=line,
            hint=f"add {required}, or set app_file: in the README.md front matter to your "
            f"main file{seen}",
        )
    return config


def load_space_config_from_files(
    files: Mapping[str, bytes | str], detectors: Sequence[Detector] = (),
) -> SpaceConfig:
    """Validate a Space held in memory: repository-relative POSIX path -> content.
    ``detectors`` (podium.builder.packs.PACKS) guess the SDK of a README without front
    matter; with none, such a Space is a config error."""
    contents = {str(PurePosixPath(k.removeprefix("./"))): v for k, v in files.items()}

    def read(name: str) -> str:
        value = contents[name]
        return value.decode("utf-8") if isinstance(value, bytes) else value

    return _load(list(contents), read, contents.__contains__, detectors)


def load_space_config(repo_dir: Path, detectors: Sequence[Detector] = ()) -> SpaceConfig:
    """Validate the Space checked out at ``repo_dir`` (README.md front matter + app file);
    ``detectors`` as for load_space_config_from_files."""
    root = repo_dir.resolve()

    def inside(name: str) -> Path:
        path = (root / name).resolve()
        if root not in path.parents:  # a symlink must not let us read outside the repo
            raise _OutsideRepo(f"{name} points outside the repository")
        return path

    def read(name: str) -> str:
        return inside(name).read_text(encoding="utf-8")

    top_level = sorted(p.name for p in root.iterdir() if p.is_file())
    return _load(top_level, read, lambda name: inside(name).is_file(), detectors)
