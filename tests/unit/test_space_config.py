"""Front matter parsing, validation and SDK detection (podium.spaces.config / detect)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.builder.packs import PACKS
from podium.errors import ConfigError, NoAppFile
from podium.resources import templates_dir
from podium.spaces.config import (
    DEFAULT_STARTUP_TIMEOUT,
    MAX_STARTUP_TIMEOUT,
    SpaceConfig,
    load_space_config,
    load_space_config_from_files,
    parse_duration,
    parse_front_matter,
)
from podium.spaces.detect import detect_sdk
from podium.spaces.stage import Sdk


def readme(*lines: str) -> str:
    return "---\n" + "\n".join(lines) + "\n---\n# My Space\n"


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


# --- valid configs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "app_file", "port"),
    [
        (Sdk.GRADIO, "app.py", 7860),
        (Sdk.STREAMLIT, "app.py", 8501),
        (Sdk.STATIC, "index.html", 7860),
        (Sdk.DOCKER, "Dockerfile", 7860),
    ],
)
def test_defaults_per_sdk(tmp_path: Path, sdk: Sdk, app_file: str, port: int) -> None:
    write_repo(tmp_path, {"README.md": readme(f"sdk: {sdk.value}"), app_file: "x"})
    config = load_space_config(tmp_path)
    assert config.sdk is sdk
    assert config.app_file == app_file
    assert config.app_port == port
    assert config.app_dir == "."
    assert (config.color_from, config.color_to) == ("indigo", "purple")
    assert config.startup_duration_timeout == DEFAULT_STARTUP_TIMEOUT
    assert config.sdk_version is None and config.python_version is None
    assert not config.pinned and not config.disable_embedding
    assert config.custom_headers == {} and config.warnings == []


def test_full_front_matter_is_kept(tmp_path: Path) -> None:
    text = readme(
        "title: Demo",
        "emoji: 🚀",
        "colorFrom: Pink",
        "colorTo: gray",
        "sdk: gradio",
        "sdk_version: 5.49.1",
        'python_version: "3.11"',
        "app_file: src/demo/main.py",
        "app_port: 9000",
        "short_description: A short one",
        "pinned: true",
        "license: mit",
        "startup_duration_timeout: 1h30m",
        "disable_embedding: yes",
        "custom_headers:",
        "  Cross-Origin-Opener-Policy: same-origin",
        "base_path: /docs",
        "fullWidth: true",
        "header: mini",
        "models: openai-community/gpt2",
        "tags: [demo, test]",
        "hf_oauth: true",
        "thumbnail: https://example.com/t.png",
        "mystery_key: 1",
    )
    write_repo(tmp_path, {"README.md": text, "src/demo/main.py": "import gradio"})
    config = load_space_config(tmp_path)
    assert config.title == "Demo" and config.emoji == "🚀"
    assert (config.color_from, config.color_to) == ("pink", "gray")
    assert config.sdk_version == "5.49.1" and config.python_version == "3.11"
    assert config.app_file == "src/demo/main.py" and config.app_dir == "src/demo"
    assert config.app_port == 9000
    assert config.pinned and config.disable_embedding and config.full_width
    assert config.startup_duration_timeout == 5400
    assert config.custom_headers == {"cross-origin-opener-policy": "same-origin"}
    assert config.base_path == "/docs" and config.header == "mini"
    assert config.models == ["openai-community/gpt2"] and config.tags == ["demo", "test"]
    assert config.extra == {
        "hf_oauth": True, "thumbnail": "https://example.com/t.png", "mystery_key": 1,
    }
    # Known Spaces keys are silent; the unknown one is reported with its line.
    assert len(config.warnings) == 1
    assert "mystery_key" in config.warnings[0] and "line 25" in config.warnings[0]


@pytest.mark.parametrize(
    ("written", "expected"),
    [("4.10", "4.10"), ("4.0", "4.0"), ("4", "4"), ('"4.10"', "4.10"), ("5.49.1", "5.49.1")],
)
def test_sdk_version_keeps_written_text(written: str, expected: str) -> None:
    # YAML reads 4.10 as the float 4.1: the raw scalar text must win.
    config = load_space_config_from_files(
        {"README.md": readme("sdk: gradio", f"sdk_version: {written}"), "app.py": ""}
    )
    assert config.sdk_version == expected


def test_python_version_float_trap() -> None:
    config = load_space_config_from_files(
        {"README.md": readme("sdk: streamlit", "python_version: 3.10"), "app.py": ""}
    )
    assert config.python_version == "3.10"


def test_numeric_title_keeps_text() -> None:
    config = load_space_config_from_files(
        {"README.md": readme("sdk: gradio", "title: 2048", "license: yes"), "app.py": ""}
    )
    assert (config.title, config.license) == ("2048", "yes")


def test_bom_and_crlf() -> None:
    text = "\ufeff---\r\nsdk: streamlit\r\ntitle: Windows\r\n---\r\nbody\r\n"
    data, body = parse_front_matter(text)
    assert data == {"sdk": "streamlit", "title": "Windows"}
    assert body.strip() == "body"
    config = load_space_config_from_files({"README.md": text.encode(), "app.py": b""})
    assert config.sdk is Sdk.STREAMLIT


def test_parse_front_matter_without_front_matter() -> None:
    assert parse_front_matter("# Title\n\ntext\n") == ({}, "# Title\n\ntext\n")


@pytest.mark.parametrize(
    ("value", "seconds"), [(90, 90), ("90", 90), ("30m", 1800), ("1h", 3600), ("1h 5m", 3900)]
)
def test_parse_duration(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "1x", "", "h", True])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_direct_construction_uses_sdk_defaults() -> None:
    config = SpaceConfig(sdk=Sdk.STREAMLIT, color_from="red")
    assert (config.app_file, config.app_port, config.color_from) == ("app.py", 8501, "red")


# --- malformed front matter -------------------------------------------------------------------

MALFORMED = [
    # (README text, field, 1-based line)
    pytest.param(readme("sdk: gradio", "app_port: abc"), "app_port", 3, id="port-not-int"),
    pytest.param(readme("sdk: gradio", "app_port: 70000"), "app_port", 3, id="port-range"),
    pytest.param(readme("title: x", "pinned: maybe", "sdk: gradio"), "pinned", 3, id="bool"),
    pytest.param(readme("title: x", "sdk: flask"), "sdk", 3, id="unknown-sdk"),
    pytest.param(readme("sdk: gradio", "colorFrom: orange"), "colorFrom", 3, id="colour"),
    pytest.param(readme("sdk: gradio", "title: a", "sdk: docker"), "sdk", 4, id="duplicate"),
    pytest.param(readme("sdk: gradio", "title: a: b"), "title", 3, id="yaml-colon"),
    pytest.param(readme("sdk: gradio", "title: [a, b", "emoji: x"), "title", 3, id="yaml-flow"),
    pytest.param(readme("sdk: gradio", "emoji: 'abc"), "emoji", 3, id="yaml-quote"),
    pytest.param(readme("sdk: gradio", "sdk_version: latest"), "sdk_version", 3, id="sdk-ver"),
    pytest.param(readme("sdk: gradio", "python_version: 2.7"), "python_version", 3, id="py2"),
    pytest.param(
        readme("sdk: gradio", "custom_headers:", "  x-frame-options: deny"),
        "custom_headers", 3, id="header-name",
    ),
    pytest.param(
        readme("sdk: gradio", "custom_headers:", "  cross-origin-opener-policy: bogus"),
        "custom_headers", 3, id="header-value",
    ),
    pytest.param(
        readme("sdk: gradio", f"startup_duration_timeout: {MAX_STARTUP_TIMEOUT + 1}"),
        "startup_duration_timeout", 3,
        id="timeout-cap",
    ),
    pytest.param(
        readme("sdk: gradio", "startup_duration_timeout: soon"), "startup_duration_timeout", 3,
        id="timeout-text",
    ),
    pytest.param(
        readme("sdk: gradio", "short_description: " + "x" * 61), "short_description", 3,
        id="description-long",
    ),
    pytest.param(readme("sdk: gradio", "app_file: ../x.py"), "app_file", 3, id="escape"),
    pytest.param(readme("sdk: gradio", "app_file: /etc/passwd"), "app_file", 3, id="absolute"),
    pytest.param(readme("sdk: gradio", "base_path: docs"), "base_path", 3, id="base-path"),
    pytest.param(readme("sdk: gradio", "header: huge"), "header", 3, id="header-style"),
    pytest.param(readme("title: x", "emoji: y"), "sdk", 1, id="no-sdk"),
    pytest.param(
        readme("sdk: gradio", "custom_headers:", "  a: b", "  a: c"), "custom_headers", 5,
        id="nested-duplicate",
    ),
    pytest.param(readme("sdk: !!python/object:os.system x"), "sdk", 2, id="unsafe-tag"),
    pytest.param("\n\n---\nsdk: gradio\napp_port: x\n---\n", "app_port", 5, id="leading-blanks"),
    pytest.param(readme("sdk: gradio", "title: &t Hi", "emoji: *t"), "emoji", 4, id="alias"),
    pytest.param(readme("sdk: gradio", "tags: &a [x, *a]"), "tags", 3, id="self-alias"),
    pytest.param(readme("sdk: gradio", "1: one"), "1", 3, id="number-key"),
]


@pytest.mark.parametrize(("text", "field", "line"), MALFORMED)
def test_malformed_front_matter(text: str, field: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_space_config_from_files({"README.md": text, "app.py": "import gradio"})
    err = info.value
    assert type(err) is ConfigError
    assert (err.field, err.line) == (field, line)
    assert f"field '{field}'" in err.message and f"line {line}" in err.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("---\nsdk: gradio\ntitle: x\n", 1, id="not-closed"),
        pytest.param("---\n- sdk: gradio\n---\n", 2, id="list"),
        pytest.param("---\njust some words\n---\n", 2, id="scalar"),
    ],
)
def test_malformed_structure(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_front_matter(text)
    assert info.value.line == line and f"line {line}" in info.value.message
    assert info.value.hint


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_front_matter("---\ntags: " + "[" * 5000 + "\n---\n")


def test_readme_not_utf8() -> None:
    with pytest.raises(ConfigError, match="UTF-8"):
        load_space_config_from_files({"README.md": b"---\nsdk: gradio\xff\n---\n", "app.py": b""})


def test_errors_say_what_is_allowed() -> None:
    cases = {
        "sdk: flask": ["gradio", "streamlit", "docker", "static"],
        "colorTo: orange": ["red", "indigo", "gray"],
        "custom_headers: {x-frame-options: deny}": ["cross-origin-opener-policy"],
    }
    for line, words in cases.items():
        text = readme(line) if line.startswith("sdk") else readme("sdk: gradio", line)
        with pytest.raises(ConfigError) as info:
            load_space_config_from_files({"README.md": text, "app.py": ""})
        told = f"{info.value.message} {info.value.hint}"
        assert all(word in told for word in words), told


# --- app file ------------------------------------------------------------------------------


def test_missing_app_file(tmp_path: Path) -> None:
    write_repo(tmp_path, {"README.md": readme("sdk: gradio", "app_file: demo.py"), "x.py": ""})
    with pytest.raises(NoAppFile) as info:
        load_space_config(tmp_path)
    assert info.value.field == "app_file" and info.value.line == 3
    assert "demo.py" in info.value.message and "x.py" in (info.value.hint or "")


def test_missing_default_app_file_in_memory() -> None:
    with pytest.raises(NoAppFile) as info:
        load_space_config_from_files({"README.md": readme("sdk: streamlit")})
    assert "app.py" in info.value.message and info.value.line is None


def test_docker_needs_dockerfile() -> None:
    with pytest.raises(NoAppFile, match="Dockerfile"):
        load_space_config_from_files({"README.md": readme("sdk: docker"), "app.py": ""})


def test_app_file_in_subfolder_in_memory() -> None:
    files = {"README.md": readme("sdk: gradio", "app_file: ./src/app.py"), "src/app.py": ""}
    config = load_space_config_from_files(files)
    assert (config.app_file, config.app_dir) == ("src/app.py", "src")


def test_app_file_is_a_directory(tmp_path: Path) -> None:
    write_repo(tmp_path, {"README.md": readme("sdk: gradio", "app_file: src"), "src/a.py": ""})
    with pytest.raises(NoAppFile):
        load_space_config(tmp_path)


def test_symlink_outside_repo_is_rejected(tmp_path: Path) -> None:
    outside = write_repo(tmp_path / "outside", {"secret.py": "import gradio"})
    repo = write_repo(tmp_path / "repo", {"README.md": readme("sdk: gradio")})
    (repo / "app.py").symlink_to(outside / "secret.py")
    with pytest.raises(ConfigError) as info:
        load_space_config(repo)
    assert not isinstance(info.value, NoAppFile)
    assert info.value.field == "app_file" and "outside" in info.value.message


def test_symlink_inside_repo_is_fine(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, {"README.md": readme("sdk: gradio"), "real/app.py": ""})
    (repo / "app.py").symlink_to(repo / "real" / "app.py")
    assert load_space_config(repo).app_file == "app.py"


# --- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"app.py": "import gradio as gr\n", "Dockerfile": "FROM x"}, (Sdk.DOCKER, "Dockerfile")),
        ({"app.py": "import gradio as gr\n"}, (Sdk.GRADIO, "app.py")),
        ({"main.py": "from gradio import Blocks\n"}, (Sdk.GRADIO, "main.py")),
        ({"app.py": "import streamlit as st\n"}, (Sdk.STREAMLIT, "app.py")),
        ({"dash.py": "\nimport streamlit\n", "util.py": "x = 1"}, (Sdk.STREAMLIT, "dash.py")),
        ({"streamlit_app.py": "print('hi')"}, (Sdk.STREAMLIT, "streamlit_app.py")),
        ({"index.html": "<h1>hi</h1>", "app.py": "print(1)"}, (Sdk.STATIC, "index.html")),
        ({"app.py": "# import gradio is in a comment\nprint(1)"}, None),
        ({"sub/app.py": "import gradio"}, None),
        ({"notes.txt": "import gradio"}, None),
    ],
)
def test_detect_sdk(files: dict[str, str], expected: tuple[Sdk, str] | None) -> None:
    assert detect_sdk(files, files.__getitem__, PACKS) == expected


def test_detect_skips_unreadable_files() -> None:
    def read(name: str) -> str:
        if name == "app.py":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")
        return "import streamlit"

    assert detect_sdk(["app.py", "other.py"], read, PACKS) == (Sdk.STREAMLIT, "other.py")


def test_the_entry_file_decides_before_the_sdk() -> None:
    # app.py is the likelier entry point: its SDK wins over a helper's, whatever the packs'
    # order (Gradio's pack comes before Streamlit's).
    files = {"app.py": "import streamlit as st\n", "main.py": "import gradio as gr\n"}
    assert detect_sdk(files, files.__getitem__, PACKS) == (Sdk.STREAMLIT, "app.py")


def test_the_packs_order_is_the_detection_order() -> None:
    files = {"Dockerfile": "FROM x", "index.html": "<p>hi</p>"}
    assert detect_sdk(files, files.__getitem__, PACKS) == (Sdk.DOCKER, "Dockerfile")
    static_first = sorted(PACKS, key=lambda p: p.sdk is not Sdk.STATIC)
    assert detect_sdk(files, files.__getitem__, static_first) == (Sdk.STATIC, "index.html")
    assert detect_sdk(files, files.__getitem__, ()) is None


def test_load_without_front_matter_detects(tmp_path: Path) -> None:
    write_repo(tmp_path, {"README.md": "# Just a title\n", "app.py": "import streamlit as st"})
    config = load_space_config(tmp_path, PACKS)
    assert (config.sdk, config.app_file, config.app_port) == (Sdk.STREAMLIT, "app.py", 8501)
    assert any("no front matter" in w for w in config.warnings)


def test_load_without_readme_detects(tmp_path: Path) -> None:
    write_repo(tmp_path, {"index.html": "<p>hi</p>"})
    assert load_space_config(tmp_path, PACKS).sdk is Sdk.STATIC


def test_nothing_detected_is_a_config_error(tmp_path: Path) -> None:
    write_repo(tmp_path, {"README.md": "# nothing here\n", "data.csv": "a,b"})
    with pytest.raises(ConfigError) as info:
        load_space_config(tmp_path, PACKS)
    assert type(info.value) is ConfigError and info.value.field == "sdk"
    assert "sdk: gradio" in (info.value.hint or "")


# --- templates ----------------------------------------------------------------------------

TEMPLATES = ["gradio-hello", "gradio-chat", "streamlit-hello", "streamlit-dashboard"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_parse_cleanly(name: str) -> None:
    folder = templates_dir() / name
    config = load_space_config(folder)
    assert config.sdk.value == name.split("-")[0]
    assert config.warnings == []
    assert config.title and config.emoji and config.short_description and config.license
    assert config.sdk_version and config.pinned is False
    assert (folder / "requirements.txt").is_file()
    _, body = parse_front_matter((folder / "README.md").read_text())
    assert body.strip(), "a template README explains the Space below its front matter"
    sdk_import = f"import {config.sdk.value}"
    assert sdk_import in (folder / config.app_file).read_text()
