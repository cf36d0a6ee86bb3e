"""The CLI's HTTP side: stored credentials, an httpx client for Podium's API that turns
error answers back into the PodiumError they were raised as (so exit codes match the
server's hierarchy), and Server-Sent Events reading for logs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from podium.errors import (
    AlreadyExists,
    BadRequest,
    Forbidden,
    NotFound,
    PodiumError,
    ServiceUnavailable,
    Unauthorized,
)

DEFAULT_URL = "http://localhost:8080"
# Without --follow, a log stream is read until it has been quiet this long.
QUIET_S = 2.0


# --- credentials -------------------------------------------------------------------------


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "podium" / "credentials.json"


def load_credentials() -> dict[str, str]:
    try:
        data = json.loads(credentials_path().read_text())
    except (OSError, ValueError):
        data = {}
    for key, var in (("url", "PODIUM_URL"), ("token", "PODIUM_TOKEN")):
        if os.environ.get(var):
            data[key] = os.environ[var]
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def save_credentials(url: str, token: str) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    # Created 0600 from the start: the token never sits in a world-readable file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "token": token}, f)
    os.replace(tmp, path)
    return path


# --- the HTTP client ---------------------------------------------------------------------


def _error_classes() -> dict[str, type[PodiumError]]:
    found: dict[str, type[PodiumError]] = {}
    stack: list[type[PodiumError]] = [PodiumError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


_BY_STATUS: dict[int, type[PodiumError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: AlreadyExists,
    422: BadRequest, 503: ServiceUnavailable,
}


def error_from(response: httpx.Response) -> PodiumError:
    """The PodiumError an API answer stands for, by its ``error`` code (else its status)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    cls = _error_classes().get(str(body.get("error")))
    if cls is None:
        cls = _BY_STATUS.get(response.status_code, PodiumError)
    message = str(body.get("message") or f"HTTP {response.status_code} from {response.url}")
    exc = cls.__new__(cls)
    # Rebuilt through the base initialiser: subclasses' own ones reformat the message,
    # which the server already did.
    PodiumError.__init__(exc, message, hint=body.get("hint"))
    return exc


@dataclass
class Api:
    url: str
    token: str | None = None

    def client(self, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            with self.client() as http:
                response = http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach Podium at {self.url}: {exc}",
                                     hint="is it running? check the URL given to "
                                     "`podium login --url`") from exc
        if response.status_code >= 400:
            raise error_from(response)
        return response.json() if response.content else None

    def events(
        self, path: str, *, follow: bool, params: dict[str, str] | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Server-Sent Events as (event name, decoded data). Without ``follow``, stops once
        the stream has been quiet for QUIET_S."""
        timeout = httpx.Timeout(30, read=None if follow else QUIET_S)
        try:
            with self.client() as http, http.stream("GET", path, params=params,
                                                    timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                yield from _parse_sse(response.iter_lines())
        except httpx.ReadTimeout:
            return
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach Podium at {self.url}: {exc}") from exc


def _parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    yield event, json.loads(text)
                except ValueError:
                    yield event, text
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def api(require_token: bool = True) -> Api:
    creds = load_credentials()
    token = creds.get("token")
    if require_token and not token:
        raise Unauthorized("not logged in", hint="run `podium login` (or set PODIUM_TOKEN)")
    return Api(creds.get("url", DEFAULT_URL).rstrip("/"), token)
