"""Which SDK version a Space gets (issue 13 item 6) and what goes into sdk.txt (item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.builder import constraints
from podium.builder.packs import PACKS, RenderContext
from podium.builder.sdk import choose_sdk
from podium.resources import runners_dir
from podium.spaces.config import load_space_config
from podium.spaces.stage import BuildPhase, Sdk

RUNNERS = runners_dir()


def pack(sdk: Sdk):  # noqa: ANN201 - the pack class of one SDK
    return next(p for p in PACKS if p.sdk == sdk)


def space(tmp_path: Path, sdk: str, version: str | None, files: dict[str, str]) -> Path:
    front = f"---\nsdk: {sdk}\n" + (f"sdk_version: {version}\n" if version else "") + "---\n"
    (tmp_path / "README.md").write_text(front)
    (tmp_path / "app.py").write_text("print('hi')\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def choose(src: Path, sdk: Sdk) -> tuple[object, list[str]]:
    lines: list[str] = []

    def log(phase: BuildPhase, line: str) -> None:
        lines.append(line)

    return choose_sdk(pack(sdk), load_space_config(src), RUNNERS, src, log), lines


@pytest.mark.parametrize(("pin", "old"), [
    ("1.25", True), ("1.18.0", True), ("1.27", True), ("1.66.0", False)])
def test_a_streamlit_pin_in_requirements_is_the_sdk_version_when_readme_has_none(
    tmp_path: Path, pin: str, old: bool,
) -> None:
    src = space(tmp_path, "streamlit", None,
                {"requirements.txt": f"pandas\nstreamlit=={pin}  # the app's version\n"})
    choice, log = choose(src, Sdk.STREAMLIT)
    assert choice.version == pin and choice.rewritten == {}
    assert any(f"using streamlit {pin}, pinned in requirements.txt line 2" in x for x in log)
    # The old-pin constraints sdk_version already gets apply to the pin too.
    assert bool(constraints.select(RUNNERS, Sdk.STREAMLIT, choice.version).files) is old


def test_a_gradio_pin_with_extras_and_markers_counts_and_ranges_do_not(tmp_path: Path) -> None:
    src = space(tmp_path, "gradio", None,
                {"requirements.txt": "Gradio[oauth]==5.49.1 ; python_version >= '3.10'\n"})
    assert choose(src, Sdk.GRADIO)[0].version == "5.49.1"
    ranged = space(tmp_path, "gradio", None, {"requirements.txt": "gradio>=5\n"})
    assert choose(ranged, Sdk.GRADIO)[0].version == constraints.default_version(
        RUNNERS, Sdk.GRADIO)


def test_readme_wins_over_a_contradicting_line_which_is_left_out(tmp_path: Path) -> None:
    src = space(tmp_path, "gradio", "6.31.0", {
        "requirements.txt": "numpy\ngradio==5.0.0\ntorch\n",
        "pre-requirements.txt": "gradio>=6\n",
    })
    choice, log = choose(src, Sdk.GRADIO)
    assert choice.version == "6.31.0"
    assert choice.rewritten == {"requirements.txt": b"numpy\ntorch\n"}
    assert any("sdk_version 6.31.0 in README.md wins over 'gradio==5.0.0'" in x for x in log)
    # The rewritten file is what the Dockerfile copies; the untouched one stays the Space's.
    render = RenderContext(
        config=load_space_config(src), files=frozenset({"requirements.txt",
                                                        "pre-requirements.txt"}),
        runners=RUNNERS, base_image="podium/base:test", sdk_version=choice.version,
        rewritten=frozenset(choice.rewritten),
    )
    dockerfile = pack(Sdk.GRADIO).render(render)
    assert "COPY .podium/requirements.txt /tmp/podium/requirements.txt" in dockerfile
    assert "COPY app/pre-requirements.txt /tmp/podium/pre-requirements.txt" in dockerfile


def test_gradio_5_and_later_get_the_spaces_package_in_the_sdk_layer() -> None:
    assert "spaces==" in constraints.select(RUNNERS, Sdk.GRADIO, "6.31.0").sdk_requirements()
    assert constraints.select(RUNNERS, Sdk.GRADIO, "4.44.1").sdk_requirements() == \
        "gradio==4.44.1\n"
    assert constraints.select(RUNNERS, Sdk.STREAMLIT, "1.67.0").sdk_requirements() == \
        "streamlit==1.67.0\n"
