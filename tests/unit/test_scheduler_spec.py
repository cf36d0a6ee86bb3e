"""RunSpec, RuntimeFailure and backend selection: no services."""

from __future__ import annotations

import json

import pytest

from podium.config import Settings
from podium.errors import PodiumError, SpaceRuntimeError
from podium.names import SpaceId
from podium.scheduler import BACKENDS, get_backend
from podium.scheduler.base import RuntimeFailure
from podium.scheduler.spec import RunSpec


def spec_for(settings: Settings, sdk: str = "gradio", **kwargs: object) -> RunSpec:
    return RunSpec.for_space(
        settings, SpaceId("Alice", "My_Demo"), "podium-space/alice--my-demo:abc",
        app_port=7860, sdk=sdk, commit="abc123", title="My Demo", **kwargs,  # type: ignore[arg-type]
    )


def test_spaces_environment_and_limits_from_settings() -> None:
    settings = Settings(domain="example.org", space_cpus=2, space_memory="1g", space_pids=99,
                        sleep_time=600, startup_timeout=30)
    spec = spec_for(settings, variables={"MODEL": "tiny"})
    assert spec.env["SPACE_ID"] == "Alice/My_Demo"
    assert spec.env["SPACE_HOST"] == "alice-my-demo.example.org"
    assert spec.env["SPACE_AUTHOR_NAME"] == "Alice" and spec.env["SPACE_REPO_NAME"] == "My_Demo"
    assert spec.env["SPACE_TITLE"] == "My Demo" and spec.env["SYSTEM"] == "spaces"
    assert spec.env["GRADIO_SERVER_NAME"] == "0.0.0.0"
    assert spec.env["MODEL"] == "tiny"
    assert (spec.cpus, spec.memory, spec.pids, spec.sleep_time, spec.startup_timeout) == (
        2, "1g", 99, 600, 30
    )
    assert spec_for(settings, memory="4g").memory == "4g"


def test_streamlit_serves_and_is_probed_under_the_path_prefix() -> None:
    spec = spec_for(Settings(), sdk="streamlit")
    base = spec.env["STREAMLIT_SERVER_BASE_URL_PATH"]
    assert base == "spaces/alice/my_demo"
    assert spec.health_path == f"/{base}/_stcore/health"
    assert spec_for(Settings()).health_path == "/"


def test_secrets_reach_the_container_but_never_the_json() -> None:
    spec = spec_for(Settings(), secrets={"HF_TOKEN": "s3cret"}, variables={"A": "1"})
    assert spec.container_env()["HF_TOKEN"] == "s3cret"
    raw = spec.to_json()
    assert "s3cret" not in raw and "HF_TOKEN" not in raw
    back = RunSpec.from_json(raw)
    assert back.secrets == {} and back.space_id == spec.space_id
    assert back.with_secrets({"HF_TOKEN": "x"}).container_env() == {**spec.env, "HF_TOKEN": "x"}
    # Records written by an older version with extra fields still load.
    assert RunSpec.from_json(json.dumps({**json.loads(raw), "gone": 1})).image == spec.image


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (RuntimeFailure(3, False, ["boom"]), "exited with code 3"),
        (RuntimeFailure(137, True, []), "out of memory"),
        (RuntimeFailure(None, False, [], "did not answer HTTP"), "did not answer HTTP"),
    ],
)
def test_failures_become_runtime_errors(failure: RuntimeFailure, words: str) -> None:
    err = failure.to_error("alice/demo")
    assert isinstance(err, SpaceRuntimeError)
    assert words in err.message and "alice/demo" in err.message
    assert err.exit_code == failure.exit_code and err.oom_killed == failure.oom_killed
    assert err.last_lines == failure.last_lines and err.hint


def test_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(PodiumError) as caught:
        get_backend(Settings(scheduler_backend="kubernetes"))
    assert "docker" in (caught.value.hint or "")
    assert "docker" in BACKENDS
