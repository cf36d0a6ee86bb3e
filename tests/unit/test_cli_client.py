"""The CLI client's pieces that need no server: API errors back to PodiumError classes,
the SSE parser, the credentials file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from podium.cli.apiclient import (
    _parse_sse,
    credentials_path,
    error_from,
    load_credentials,
    save_credentials,
)
from podium.errors import (
    AlreadyExists,
    BadRequest,
    Forbidden,
    InvalidName,
    NoAppFile,
    NotFound,
    PodiumError,
    ServiceUnavailable,
    Unauthorized,
)


def reply(status: int, body: object) -> httpx.Response:
    request = httpx.Request("GET", "http://podium.test/api/x")
    if isinstance(body, (dict, list)):
        return httpx.Response(status, json=body, request=request)
    return httpx.Response(status, text=str(body), request=request)


@pytest.mark.parametrize("cls", [InvalidName, NoAppFile, NotFound, AlreadyExists, Unauthorized,
                                 Forbidden, BadRequest, ServiceUnavailable])
def test_error_code_maps_back_to_its_class_with_message_hint_and_exit_code(
    cls: type[PodiumError],
) -> None:
    sent = PodiumError.__new__(cls)
    PodiumError.__init__(sent, "it went wrong", hint="do this")

    got = error_from(reply(cls.http_status, sent.to_dict()))

    assert type(got) is cls
    assert (got.message, got.hint, got.exit_code) == ("it went wrong", "do this", cls.exit_code)


def test_unknown_codes_and_non_json_bodies_fall_back_to_the_status() -> None:
    assert type(error_from(reply(404, "<html>nope</html>"))) is NotFound
    validation = error_from(reply(422, {"error": "invalid_request", "message": "name: short"}))
    assert type(validation) is BadRequest and validation.message == "name: short"
    odd = error_from(reply(418, ["not", "a", "dict"]))
    assert type(odd) is PodiumError and "418" in odd.message


def test_sse_parser_groups_lines_into_events() -> None:
    lines = [
        ": ping", "",
        'data: {"data": "Collecting gradio", "phase": "dependencies"}', "",
        "event: failed", 'data: {"status": "FAILED", "reason": "pip"}', "",
        "data: not json", "data: second line", "",
    ]
    assert list(_parse_sse(iter(lines))) == [
        ("message", {"data": "Collecting gradio", "phase": "dependencies"}),
        ("failed", {"status": "FAILED", "reason": "pip"}),
        ("message", "not json\nsecond line"),
    ]


def test_credentials_are_private_and_env_overrides_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("PODIUM_URL", raising=False)
    monkeypatch.delenv("PODIUM_TOKEN", raising=False)
    assert load_credentials() == {}

    path = save_credentials("http://podium.test:8080", "pod_secret")

    assert path == credentials_path() == tmp_path / "podium" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": "http://podium.test:8080",
                                            "token": "pod_secret"}
    monkeypatch.setenv("PODIUM_TOKEN", "pod_from_env")
    assert load_credentials() == {"url": "http://podium.test:8080", "token": "pod_from_env"}


class FakeApi:
    """Stands in for the HTTP client: the log events of one build, then its runtime."""

    def __init__(self, events: list[tuple[str, object]]) -> None:
        self._events = events
        self.paths: list[str] = []

    def events(self, path: str, *, follow: bool, params: object = None):  # type: ignore[no-untyped-def]
        self.paths.append(path)
        yield from self._events

    def call(self, method: str, path: str, **kw: object) -> dict[str, object]:
        self.paths.append(path)
        return {"build": {"id": "abcdef1234567890", "status": "QUEUED"}}


def line(text: str, phase: str) -> tuple[str, object]:
    return "message", {"data": text, "timestamp": "t", "phase": phase}


def test_build_log_prints_lines_through_the_phases_and_returns_the_final_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from podium.cli.client import _show_build_log
    from podium.spaces.stage import BuildStatus

    api = FakeApi([line("cloned abc", "clone"), line("Collecting numpy", "dependencies"),
                   ("failed", {"status": "FAILED", "reason": "No matching distribution"})])

    status = _show_build_log(api, "/api/spaces/a/b", follow=True)  # type: ignore[arg-type]

    assert status == ("failed", BuildStatus.FAILED)
    printed = capsys.readouterr().out
    assert printed.index("cloned abc") < printed.index("Collecting numpy")
    assert "build FAILED: No matching distribution" in printed
    assert api.paths == ["/api/spaces/a/b/logs/build"]


def test_build_log_follows_the_push_through_launching_until_ready(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from podium.cli.client import _show_build_log
    from podium.spaces.stage import BuildStatus

    api = FakeApi([line("cloned abc", "clone"), line("Starting abc", "launching"),
                   ("ready", {"status": "SUCCEEDED", "reason": ""})])

    end = _show_build_log(api, "/api/spaces/a/b", follow=True)  # type: ignore[arg-type]

    assert end == ("ready", BuildStatus.SUCCEEDED)
    printed = capsys.readouterr().out
    assert printed.index("Starting abc") < printed.index("ready: the app answers")


def test_build_log_without_follow_reports_a_build_still_waiting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from podium.cli.client import _show_build_log

    api = FakeApi([])

    assert _show_build_log(api, "/api/spaces/a/b", follow=False) is None  # type: ignore[arg-type]
    assert "build abcdef123456 is QUEUED (use -f to follow it)" in capsys.readouterr().out


def test_an_error_is_printed_unbroken_whatever_its_length(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A path-long message on a non-terminal stderr: rich broke it at 80 columns, so `podium
    restore`'s "is not empty" became "is not\\nempty" for a long enough data dir (CI's)."""
    from podium.cli.base import fail

    monkeypatch.setenv("COLUMNS", "80")  # rich's width off a terminal, whatever CI sets
    data_dir = "/tmp/ci2-basetemp/test_backup_while_running_then0/" + "b" * 60
    message = f"the data dir {data_dir} is not empty (logs, podium.db)"
    hint = "restore into an empty or new directory (PODIUM_DATA_DIR); nothing was changed"

    code = fail(PodiumError(message, hint=hint)).exit_code

    assert code == PodiumError.exit_code
    assert capsys.readouterr().err == f"error: {message}\nhint: {hint}\n"
