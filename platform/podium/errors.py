"""One error hierarchy, mapped to HTTP status, SSE failed events, CLI exit codes and job
status at the edges (api/, builds/, cli.py). Raise these; never raise HTTPException inside
business code."""

from __future__ import annotations


class PodiumError(Exception):
    """Base of every error Podium reports to a user."""

    http_status = 500
    exit_code = 1
    code = "internal"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def http_headers(self) -> dict[str, str]:
        """Headers every HTTP edge adds to this error's response (API, git server)."""
        return {}

    def to_dict(self) -> dict[str, str]:
        out = {"error": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class InvalidName(PodiumError):
    http_status = 422
    exit_code = 2
    code = "invalid_name"


class ConfigError(PodiumError):
    """The Space's README front matter or files are wrong (stage CONFIG_ERROR)."""

    http_status = 422
    exit_code = 2
    code = "config_error"

    def __init__(
        self, message: str, *, field: str | None = None, line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if field:
            where.append(f"field '{field}'")
        if line:
            where.append(f"line {line}")
        full = f"README.md {', '.join(where)}: {message}" if where else f"README.md: {message}"
        super().__init__(full, hint=hint)
        self.field = field
        self.line = line


class NoAppFile(ConfigError):
    """The configured app_file does not exist (stage NO_APP_FILE)."""

    code = "no_app_file"


class SettingsError(PodiumError):
    """A PODIUM_* setting holds a value Podium cannot use: the operator's to fix, never the
    Space's (a ConfigError would show it as a README error and stage CONFIG_ERROR)."""

    http_status = 500
    exit_code = 2
    code = "settings_error"

    def __init__(self, message: str, *, setting: str, hint: str | None = None) -> None:
        super().__init__(f"{setting}: {message}", hint=hint)
        self.setting = setting


class NotFound(PodiumError):
    http_status = 404
    exit_code = 3
    code = "not_found"


class AlreadyExists(PodiumError):
    http_status = 409
    exit_code = 4
    code = "conflict"


class Unauthorized(PodiumError):
    http_status = 401
    exit_code = 5
    code = "unauthorized"


class Forbidden(PodiumError):
    http_status = 403
    exit_code = 5
    code = "forbidden"


class TooManyRequests(PodiumError):
    """Too many failed password checks: the caller must wait ``retry_after`` seconds."""

    http_status = 429
    exit_code = 7
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = max(1, retry_after)

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class BadRequest(PodiumError):
    http_status = 400
    exit_code = 2
    code = "bad_request"


class BuildError(PodiumError):
    """A build failed for a reason in the user's Space (bad pin, missing package...)."""

    http_status = 422
    code = "build_error"


class ServiceUnavailable(PodiumError):
    """A dependency (Docker engine, Redis) is not reachable."""

    http_status = 503
    exit_code = 6
    code = "service_unavailable"


class SpaceRuntimeError(PodiumError):
    """A Space's container crashed, was OOM-killed or never became healthy (RUNTIME_ERROR)."""

    http_status = 422
    code = "runtime_error"

    def __init__(
        self, message: str, *, exit_code: int | None = None, oom_killed: bool = False,
        last_lines: list[str] | None = None, hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.last_lines = list(last_lines or [])


class StartCancelled(PodiumError):
    """A Space's pending start was given up because its owner deleted or paused it, or
    pushed a newer commit: not a failure of the app, so never recorded as one."""

    http_status = 409
    code = "start_cancelled"
