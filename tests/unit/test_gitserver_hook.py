"""The hooks' logic, called in-process on a scratch bare repository (no server)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from podium.config import Settings
from podium.errors import BadRequest, ConfigError, SettingsError
from podium.gitserver import create_git_app
from podium.gitserver.git import ZERO_OID, check_repo_path, check_rev
from podium.gitserver.hook import (
    load_push_handler,
    main,
    post_receive,
    pre_receive,
)
from podium.gitserver.repo import repo_size
from podium.names import SpaceId
from tests.conftest import require

CALLS: list[tuple[str, str, str, str, str]] = []


def on_push(
    settings: Settings, space_id: SpaceId, ref: str, old: str, new: str, pusher: str,
) -> list[str]:
    CALLS.append((str(space_id), ref, old, new, pusher))
    if new == "f" * 40:
        raise BadRequest("queue is full", hint="try again later")
    return [f"build for {new[:7]}"]


@pytest.fixture
def git_dir(tmp_path: Path) -> Path:
    require(shutil.which("git") is not None, "git is not installed")
    path = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)],
                   check=True)
    return path


def test_settings_travel_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = Settings(
        data_dir=tmp_path, repo_max_bytes=12345, push_handler="a.b:c", build_cpus=0.5,
        ca_bundle=tmp_path / "ca.pem",
    )
    for key in list(os.environ):
        if key.startswith("PODIUM_"):
            monkeypatch.delenv(key)
    for key, value in original.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == original.model_dump()


def test_load_push_handler() -> None:
    assert load_push_handler(f"{__name__}:on_push") is on_push
    assert load_push_handler("os.path.join") is os.path.join
    for bad in ("no.such.module:f", "os:nope", "os:sep"):
        with pytest.raises(SettingsError) as info:
            load_push_handler(bad)
        assert not isinstance(info.value, ConfigError)
        assert info.value.message.startswith("PODIUM_PUSH_HANDLER: ")


def test_a_bad_push_handler_fails_at_start(settings: Settings) -> None:
    with pytest.raises(SettingsError):
        create_git_app(settings.model_copy(update={"push_handler": "nope:f"}), object())  # type: ignore[arg-type]


def test_a_mistyped_push_handler_reads_as_a_settings_error_at_push_time(
    git_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the pusher sees when the operator mistyped the setting: the setting's name, not
    a README error sending them to fix their Space."""
    for key in list(os.environ):
        if key.startswith("PODIUM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PODIUM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PODIUM_PUSH_HANDLER", "podium.controller.psuh:on_push")
    monkeypatch.setenv("GIT_DIR", str(git_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ZERO_OID} {'a' * 40} refs/heads/main\n"))
    assert main(["post-receive"]) == 1
    said = capsys.readouterr().out
    assert said.startswith(
        "error: PODIUM_PUSH_HANDLER: cannot load 'podium.controller.psuh:on_push'"
    )
    assert "README" not in said


def test_post_receive_deploys_only_the_default_branch(settings: Settings, git_dir: Path) -> None:
    settings = settings.model_copy(update={"push_handler": f"{__name__}:on_push"})
    CALLS.clear()
    new = "a" * 40
    updates = (
        f"{ZERO_OID} {new} refs/heads/main\n"
        f"{ZERO_OID} {new} refs/heads/dev\n"
        f"{ZERO_OID} {new} refs/tags/v1\n"
        f"{new} {'f' * 40} refs/heads/main\n"
    )
    out = io.StringIO()
    assert post_receive(settings, git_dir, io.StringIO(updates), out, "alice/demo", "bob") == 0
    assert CALLS == [
        ("alice/demo", "refs/heads/main", ZERO_OID, new, "bob"),
        ("alice/demo", "refs/heads/main", new, "f" * 40, "bob"),
    ]
    assert out.getvalue().splitlines() == [
        "build for aaaaaaa",
        "Branch 'dev' stored; only 'main' is deployed.",
        "Deploy not started: queue is full",
        "hint: try again later",
    ]
    deleted = io.StringIO()
    post_receive(settings, git_dir, io.StringIO(f"{new} {ZERO_OID} refs/heads/main\n"), deleted,
                 "alice/demo", "bob")
    assert "deleted" in deleted.getvalue() and len(CALLS) == 2


def test_post_receive_without_handler_is_quiet(settings: Settings, git_dir: Path) -> None:
    out = io.StringIO()
    post_receive(settings, git_dir, io.StringIO(f"{ZERO_OID} {'a' * 40} refs/heads/main\n"),
                 out, "alice/demo", "bob")
    assert out.getvalue() == ""


def test_pre_receive_size_limit(settings: Settings, git_dir: Path) -> None:
    (git_dir / "objects" / "incoming-x").mkdir()
    (git_dir / "objects" / "incoming-x" / "pack").write_bytes(b"x" * 5000)
    size = repo_size(git_dir)
    assert size >= 5000
    ok = io.StringIO()
    assert pre_receive(settings.model_copy(update={"repo_max_bytes": size}), git_dir, ok) == 0
    assert ok.getvalue() == ""
    refused = io.StringIO()
    small = settings.model_copy(update={"repo_max_bytes": size - 1})
    assert pre_receive(small, git_dir, refused) == 1
    assert refused.getvalue().startswith("Push rejected: the repository would be")


@pytest.mark.parametrize("path", ["../x", "a/../../b", "a\0b"])
def test_check_repo_path_refuses_escapes(path: str) -> None:
    with pytest.raises(BadRequest):
        check_repo_path(path)


def test_check_repo_path_and_rev() -> None:
    assert check_repo_path("/src/./util.py") == "src/util.py"
    assert check_repo_path("") == ""
    assert check_rev("main") == "main"
    for rev in ("--output=/tmp/x", "", "a\nb"):
        with pytest.raises(BadRequest):
            check_rev(rev)
