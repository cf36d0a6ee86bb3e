"""Packaging: the source root `platform/` must not shadow the standard library's `platform`,
and runners/ and templates/ must be found both in the checkout and inside a built wheel."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from podium.config import Settings
from podium.resources import runners_dir, templates_dir
from tests.conftest import REPO_ROOT, require

DATA_DIRS = ("runners", "templates")
# What a wheel build reads from the checkout; copied so concurrent runs and the checkout's
# own build/ and *.egg-info never interfere.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "platform", *DATA_DIRS)
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def shipped_files(src: Path, kind: str) -> list[str]:
    """Files under runners/ or templates/ of a source tree, relative to its root."""
    return sorted(
        p.relative_to(src).as_posix() for p in (src / kind).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def test_stdlib_platform_is_not_shadowed_from_repo_root() -> None:
    out = run_python("import platform, podium; print(platform.system()); print(podium.__file__)",
                     cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    system, podium_file = out.stdout.split()
    assert system == platform.system()
    assert Path(podium_file).is_relative_to(REPO_ROOT / "platform" / "podium")


def test_resources_resolve_in_checkout(tmp_path: Path) -> None:
    assert runners_dir() == REPO_ROOT / "runners"
    assert templates_dir() == REPO_ROOT / "templates"
    assert (templates_dir() / "gradio-hello" / "README.md").is_file()
    override = Settings(data_dir=tmp_path, runners_dir=tmp_path / "r", templates_dir=tmp_path / "t")
    assert (runners_dir(override), templates_dir(override)) == (tmp_path / "r", tmp_path / "t")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a snapshot of the checkout (kept next to it as ``src``)."""
    for module in ("build", "wheel", "setuptools"):
        require(importlib.util.find_spec(module) is not None,
                f"'{module}' is not installed (pip install -e '.[test]')")
    src = tmp_path_factory.mktemp("wheel") / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=JUNK)
        else:
            shutil.copy2(path, src / name)
    out_dir = src.parent / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out_dir), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out_dir.glob("podium-*.whl")
    return built


def test_wheel_ships_runners_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "podium/_data/templates/gradio-hello/README.md" in names
    assert any(n.startswith("podium/_data/runners/") for n in names)
    src = wheel.parent.parent / "src"
    for kind in DATA_DIRS:
        expected = {f"podium/_data/{rel}" for rel in shipped_files(src, kind)}
        assert expected, f"{kind}/ is empty in the checkout"
        assert expected <= names, sorted(expected - names)
    assert "podium/resources.py" in names
    # The nginx-lua data plane's config template and Lua module are files of the package.
    assert {"podium/proxy/plane/nginx.conf.j2", "podium/proxy/plane/podium_plane.lua"} <= names
    # Only the podium package and its metadata: no top-level `platform` package, no tests.
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"podium"}


def test_installed_wheel_finds_its_own_data(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    out = run_python(
        "import podium, podium.resources as r\n"
        "print(podium.__file__); print(r.runners_dir()); print(r.templates_dir())",
        cwd=tmp_path, PYTHONPATH=str(site),
    )
    assert out.returncode == 0, out.stderr
    for printed in out.stdout.split():
        assert Path(printed).is_relative_to(site), out.stdout
    templates = Path(out.stdout.split()[2])
    assert (templates / "gradio-hello" / "README.md").is_file()
