"""Build packs, constraints and build-output reading, without Docker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from podium.builder import constraints
from podium.builder.engine import build_limits
from podium.builder.packs import PACKS, RenderContext, pick_pack
from podium.builder.packs.base import APP_DIR
from podium.builder.progress import (
    PhaseTracker,
    dockerfile_steps,
    failure_reason,
    source_of,
    step_phases,
)
from podium.config import Settings
from podium.errors import ConfigError
from podium.resources import runners_dir
from podium.spaces.config import SpaceConfig
from podium.spaces.stage import BuildPhase, Sdk

RUNNERS = runners_dir()


@dataclass
class Cfg:
    """SpaceConfig-shaped: what the packs read."""

    sdk: Sdk
    sdk_version: str | None = None
    app_file: str = "app.py"
    app_port: int = 7860


def ctx(config: Cfg | SpaceConfig, files: set[str], **kw: object) -> RenderContext:
    defaults: dict[str, object] = {"base_image": "podium/base:test", "sdk_version": "5.0.0",
                                   "labels": {"podium.commit": "abc123"}}
    defaults.update(kw)
    return RenderContext(config=config, files=frozenset(files), runners=RUNNERS,
                         **defaults)  # type: ignore[arg-type]


def instructions(dockerfile: str) -> list[str]:
    return [step for step, _ in dockerfile_steps(dockerfile)]


def index_of(steps: list[str], pattern: str) -> int:
    hits = [i for i, s in enumerate(steps) if re.search(pattern, s)]
    assert hits, f"no step matches {pattern!r} in {steps}"
    return hits[0]


# --- detection --------------------------------------------------------------------------

@pytest.mark.parametrize("sdk", list(Sdk))
def test_each_sdk_gets_its_own_pack(sdk: Sdk) -> None:
    files = {"app.py", "Dockerfile", "index.html"}
    assert pick_pack(Cfg(sdk), files).sdk is sdk


def test_docker_pack_comes_first_and_needs_a_dockerfile() -> None:
    assert PACKS[0].sdk is Sdk.DOCKER
    with pytest.raises(ConfigError, match="docker"):
        pick_pack(Cfg(Sdk.DOCKER), {"app.py"})


def test_a_gradio_space_with_a_stray_dockerfile_is_still_built_as_gradio() -> None:
    assert pick_pack(Cfg(Sdk.GRADIO), {"app.py", "Dockerfile"}).sdk is Sdk.GRADIO


# --- rendered layer order ---------------------------------------------------------------

ALL_DEPS = {"app.py", "packages.txt", "pre-requirements.txt", "requirements.txt"}


@pytest.mark.parametrize("sdk", [Sdk.GRADIO, Sdk.STREAMLIT])
def test_layer_order_keeps_code_last_and_sdk_first(sdk: Sdk) -> None:
    steps = instructions(pick_pack(Cfg(sdk), ALL_DEPS).render(ctx(Cfg(sdk), ALL_DEPS)))
    assert steps[0] == "FROM podium/base:test"
    sdk_install = index_of(steps, r"pip install -r /tmp/podium/sdk\.txt -c")
    apt = index_of(steps, r"apt-get install")
    pre = index_of(steps, r"pip install -r /tmp/podium/pre-requirements\.txt")
    req = index_of(steps, r"pip install -r /tmp/podium/requirements\.txt")
    code = index_of(steps, rf"^COPY --chown=1000 {APP_DIR}/ /home/user/app/$")
    assert sdk_install < apt < pre < req < code
    # Nothing but the commit label may follow the code: everything else would rebuild on
    # every push.
    assert [s.split()[0] for s in steps[code + 1:]] == ["LABEL"]
    # Dependency layers see only their own file, never the whole app folder.
    for step in steps[:code]:
        if step.startswith("COPY"):
            assert f" {APP_DIR}/ " not in step + " "


@pytest.mark.parametrize("sdk", [Sdk.GRADIO, Sdk.STREAMLIT])
def test_user_requirements_are_resolved_with_the_sdk_pin(sdk: Sdk) -> None:
    text = pick_pack(Cfg(sdk), ALL_DEPS).render(ctx(Cfg(sdk), ALL_DEPS))
    for name in ("pre-requirements.txt", "requirements.txt"):
        step = next(s for s in instructions(text) if f"-r /tmp/podium/{name}" in s)
        assert "-r /tmp/podium/sdk.txt" in step and "-c /tmp/podium/constraints.txt" in step


def test_missing_dependency_files_render_no_steps() -> None:
    text = pick_pack(Cfg(Sdk.GRADIO), {"app.py"}).render(ctx(Cfg(Sdk.GRADIO), {"app.py"}))
    assert "packages.txt" not in text
    assert "requirements.txt" not in text
    assert "apt-get" not in text


def test_sdk_layers_do_not_depend_on_the_space() -> None:
    """Two different Spaces with one sdk_version share every step up to the SDK install."""
    a = Cfg(Sdk.GRADIO, app_file="a/main.py", app_port=7000)
    b = Cfg(Sdk.GRADIO, app_file="app.py")
    sa = instructions(pick_pack(a, {"a/main.py"}).render(ctx(a, {"a/main.py", "packages.txt"})))
    sb = instructions(pick_pack(b, {"app.py"}).render(ctx(b, {"app.py", "requirements.txt"})))
    upto = index_of(sa, r"sdk\.txt -c") + 1
    assert sa[:upto] == sb[:upto]


def test_gradio_runs_app_file_in_a_subfolder_from_the_repo_root() -> None:
    cfg = Cfg(Sdk.GRADIO, app_file="src/demo app.py", app_port=7861)
    steps = instructions(pick_pack(cfg, {"src/demo app.py"}).render(ctx(cfg, set())))
    assert 'CMD ["python", "src/demo app.py"]' in steps
    assert "WORKDIR /home/user/app" in steps
    env = next(s for s in steps if s.startswith("ENV GRADIO_SERVER_NAME"))
    assert "GRADIO_SERVER_PORT=7861" in env and "GRADIO_SERVER_NAME=0.0.0.0" in env
    assert "EXPOSE 7861" in steps


def test_streamlit_runs_headless_for_a_proxy_and_an_iframe() -> None:
    cfg = Cfg(Sdk.STREAMLIT, app_file="pages/Home.py", app_port=8501)
    cmd = next(s for s in instructions(pick_pack(cfg, set()).render(ctx(cfg, set())))
               if s.startswith("CMD"))
    for flag in ('"run", "pages/Home.py"', '"--server.headless", "true"',
                 '"--server.enableCORS", "false"', '"--server.enableXsrfProtection", "false"',
                 '"--server.address", "0.0.0.0"', '"--server.port", "8501"',
                 '"--browser.gatherUsageStats", "false"'):
        assert flag in cmd
    # The base URL path is left to STREAMLIT_SERVER_BASE_URL_PATH at run time.
    assert "baseUrlPath" not in cmd


def test_static_serves_the_folder_of_app_file_and_installs_nothing() -> None:
    cfg = Cfg(Sdk.STATIC, app_file="site/index.html")
    text = pick_pack(cfg, set()).render(ctx(cfg, {"requirements.txt"}, sdk_version=""))
    assert "pip install" not in text
    cmd = next(s for s in instructions(text) if s.startswith("CMD"))
    assert '"--directory", "/home/user/app/site"' in cmd and '"7860"' in cmd


def test_labels_go_in_one_step_at_the_end() -> None:
    labels = {"podium.space": "alice/demo", "podium.commit": "c0ffee",
              "podium.sdk": "gradio", "podium.app_port": "7860"}
    steps = instructions(pick_pack(Cfg(Sdk.GRADIO), set()).render(
        ctx(Cfg(Sdk.GRADIO), set(), labels=labels)))
    label_steps = [s for s in steps if s.startswith("LABEL")]
    assert label_steps == [steps[-1]]
    for key, value in labels.items():
        assert f'{key}="{value}"' in steps[-1]


def test_docker_pack_returns_the_repositorys_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /srv\n")
    cfg = Cfg(Sdk.DOCKER, app_port=9000)
    pack = pick_pack(cfg, {"Dockerfile"})
    assert pack.own_context
    assert pack.render(ctx(cfg, {"Dockerfile"}, source_dir=tmp_path)) == \
        "FROM scratch\nCOPY . /srv\n"


def test_real_space_config_renders(tmp_path: Path) -> None:
    config = SpaceConfig(sdk=Sdk.STREAMLIT, sdk_version="1.25.0", app_file="app.py",
                         app_port=8501)
    text = pick_pack(config, {"app.py"}).render(ctx(config, {"app.py"}, sdk_version="1.25.0"))
    assert '"--server.port", "8501"' in text


# --- CA bundle and package index --------------------------------------------------------

def test_ca_bundle_only_reaches_pip_steps_never_the_image_env() -> None:
    text = pick_pack(Cfg(Sdk.GRADIO), ALL_DEPS).render(
        ctx(Cfg(Sdk.GRADIO), ALL_DEPS, has_ca_bundle=True))
    steps = instructions(text)
    assert "COPY .podium/ca.crt /tmp/podium/ca.crt" in steps
    pip_steps = [s for s in steps if "pip install" in s]
    assert len(pip_steps) == 3
    for step in pip_steps:
        assert step.startswith("RUN PIP_CERT=/tmp/podium/ca.crt SSL_CERT_FILE=/tmp/podium/ca.crt")
    assert not any(s.startswith("ENV") and "ca.crt" in s for s in steps)


def test_without_ca_bundle_nothing_mentions_it() -> None:
    text = pick_pack(Cfg(Sdk.GRADIO), ALL_DEPS).render(ctx(Cfg(Sdk.GRADIO), ALL_DEPS))
    assert "ca.crt" not in text and "PIP_CERT" not in text


def test_index_urls_become_build_args_only_when_set() -> None:
    plain = pick_pack(Cfg(Sdk.GRADIO), set()).render(ctx(Cfg(Sdk.GRADIO), set()))
    assert "PIP_INDEX_URL" not in plain and "PIP_EXTRA_INDEX_URL" not in plain
    steps = instructions(pick_pack(Cfg(Sdk.GRADIO), set()).render(
        ctx(Cfg(Sdk.GRADIO), set(), index_url=True, extra_index_url=True)))
    sdk_step = index_of(steps, r"sdk\.txt -c")
    assert index_of(steps, r"^ARG PIP_INDEX_URL$") < sdk_step
    assert index_of(steps, r"^ARG PIP_EXTRA_INDEX_URL$") < sdk_step


def test_build_args_and_limits_follow_settings() -> None:
    from podium.builder.build import _build_args

    settings = Settings(index_url="https://pypi.example/simple", build_cpus=1.0,
                        build_memory="512m")
    assert _build_args(settings) == {"PIP_INDEX_URL": "https://pypi.example/simple"}
    assert _build_args(Settings()) == {}
    limits = build_limits(settings)
    assert limits["memory"] == 512 * 1024 * 1024 == limits["memswap"]
    assert limits["cpusetcpus"] == "0"
    assert limits["cpushares"] == 1024


# --- constraints for old pins -----------------------------------------------------------

def constraint_lines(sdk: Sdk, version: str) -> list[str]:
    text = constraints.select(RUNNERS, sdk, version).text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_old_streamlit_gets_numpy_1_and_a_matching_pyarrow() -> None:
    lines = constraint_lines(Sdk.STREAMLIT, "1.25.0")
    assert lines[0] == "streamlit==1.25.0"
    assert "numpy<2" in lines and "pyarrow<17" in lines
    assert "altair<5" not in lines  # 1.25 supports altair 5


def test_older_streamlit_accumulates_every_applicable_range() -> None:
    lines = constraint_lines(Sdk.STREAMLIT, "1.19.0")
    assert {"numpy<2", "altair<5", "protobuf<4"} <= set(lines)


def test_old_gradio_pins_huggingface_hub_and_pydantic() -> None:
    lines = constraint_lines(Sdk.GRADIO, "4.44.1")
    assert lines[0] == "gradio==4.44.1"
    assert "huggingface_hub<0.26" in lines and "pydantic<2.11" in lines
    assert "pydantic<2" not in lines  # that one is for gradio 3


def test_current_sdks_get_only_their_pin() -> None:
    for sdk in (Sdk.GRADIO, Sdk.STREAMLIT):
        version = constraints.default_version(RUNNERS, sdk)
        assert constraint_lines(sdk, version) == [f"{sdk.value}=={version}"]


def test_every_constraints_file_declares_a_valid_range() -> None:
    files = sorted(RUNNERS.glob("*/constraints/*.txt"))
    assert files
    for path in files:
        assert str(constraints.applies(path))


def test_a_nonsense_sdk_version_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sdk_version"):
        constraints.select(RUNNERS, Sdk.GRADIO, "latest")


# --- build output: phases, cache, failure reasons ---------------------------------------

def test_step_count_matches_the_classic_builders() -> None:
    text = "FROM a\n# phase: sdk\nRUN x \\\n  && y\n\n# a comment\nCOPY b c\n"
    assert instructions(text) == ["FROM a", "RUN x && y", "COPY b c"]


def test_phase_marks_map_steps_and_output_lines() -> None:
    text = pick_pack(Cfg(Sdk.GRADIO), ALL_DEPS).render(ctx(Cfg(Sdk.GRADIO), ALL_DEPS))
    steps = instructions(text)
    tracker = PhaseTracker(step_phases(text))
    seen: list[BuildPhase] = []
    for number, step in enumerate(steps, start=1):
        tracker.feed(f"Step {number}/{len(steps)} : {step}")
        seen.append(tracker.phase)
        tracker.feed(" ---> Using cache")
    assert seen[index_of(steps, r"sdk\.txt -c")] is BuildPhase.SDK
    assert seen[index_of(steps, r"requirements\.txt -r")] is BuildPhase.DEPENDENCIES
    assert seen[index_of(steps, r"^COPY --chown=1000 app/")] is BuildPhase.CODE
    assert seen[-1] is BuildPhase.EXPORT
    assert tracker.cached_layers == len(steps)
    # Each phase is one stretch of the log: once left, never entered again. (The SDK comes
    # before the Space's dependencies here, for layer sharing; see space.Dockerfile.j2.)
    stretches = [p for i, p in enumerate(seen) if i == 0 or seen[i - 1] is not p]
    assert stretches == [BuildPhase.SDK, BuildPhase.DEPENDENCIES, BuildPhase.CODE,
                         BuildPhase.EXPORT]
    assert tracker.feed("Successfully built 0123abcd") is False  # already export


def test_unmarked_dockerfiles_switch_to_code_at_copy_dot() -> None:
    text = "FROM x\nRUN pip install a\nCOPY --chown=1000 . /app\nCMD [\"x\"]\n"
    assert step_phases(text) == [BuildPhase.DEPENDENCIES, BuildPhase.DEPENDENCIES,
                                 BuildPhase.CODE, BuildPhase.CODE]
    tracker = PhaseTracker(step_phases(text))
    tracker.feed("Step 5/5 : LABEL podium.commit=abc")  # appended by the API
    assert tracker.phase is BuildPhase.EXPORT


PIP_NOT_FOUND = [
    "Collecting nonexistent-pkg-xyz==1.0 (from -r /tmp/podium/requirements.txt (line 1))",
    "ERROR: Could not find a version that satisfies the requirement nonexistent-pkg-xyz==1.0 "
    "(from versions: none)",
    "ERROR: No matching distribution found for nonexistent-pkg-xyz==1.0",
]
REQ_STEP = ("RUN pip install -r /tmp/podium/requirements.txt -r /tmp/podium/sdk.txt "
            "-c /tmp/podium/constraints.txt")


def test_reason_for_a_missing_package_names_it_and_its_file() -> None:
    reason = failure_reason(REQ_STEP, PIP_NOT_FOUND, "returned a non-zero code: 1")
    assert reason == ("pip could not find a version that satisfies the requirement "
                      "nonexistent-pkg-xyz==1.0 (from requirements.txt)")


def test_reason_for_a_conflict_quotes_pips_explanation() -> None:
    lines = [
        "ERROR: Cannot install gradio-client==1.3.0 and gradio==6.31.0 because these "
        "package versions have conflicting dependencies.",
        "The conflict is caused by:",
        "    The user requested gradio-client==1.3.0",
        "    gradio 6.31.0 depends on gradio-client==2.7.2",
        "To fix this you could try to:",
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/...",
    ]
    reason = failure_reason(REQ_STEP, lines, "returned a non-zero code: 1")
    first, second = reason.splitlines()
    assert first.startswith("pip found conflicting requirements (from requirements.txt)")
    assert "gradio-client==1.3.0" in first
    assert second == ("The user requested gradio-client==1.3.0; "
                      "gradio 6.31.0 depends on gradio-client==2.7.2")


def test_reason_for_an_unknown_sdk_version_and_apt_and_anything_else() -> None:
    sdk_step = "RUN pip install -r /tmp/podium/sdk.txt -c /tmp/podium/constraints.txt"
    lines = ["ERROR: Could not find a version that satisfies the requirement gradio==99.0 "
             "(from -r /tmp/podium/sdk.txt (line 1)) (from versions: 1.0, 2.0)"]
    assert failure_reason(sdk_step, lines, "x") == (
        "pip could not find a version that satisfies the requirement gradio==99.0 "
        "(from sdk_version in README.md)")
    apt_step = "RUN apt-get update && sed -e 's/#.*//' /tmp/podium/packages.txt | xargs ..."
    assert failure_reason(apt_step, ["E: Unable to locate package no-such-pkg"], "x") == \
        "apt-get failed (from packages.txt): Unable to locate package no-such-pkg"
    other = failure_reason("RUN make", ["building", "make: *** no rule"], "code: 2")
    assert other == "step `RUN make` failed: code: 2\nbuilding / make: *** no rule"


def test_source_of_tells_pre_requirements_from_requirements() -> None:
    assert source_of("RUN pip install -r /tmp/podium/pre-requirements.txt") == \
        "pre-requirements.txt"
    assert source_of(REQ_STEP) == "requirements.txt"
    assert source_of("RUN echo hi") is None
