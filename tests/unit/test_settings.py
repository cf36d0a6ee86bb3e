"""podium.config.Settings: environment, defaults, derived values, and no I/O until asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from podium.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PODIUM_* variables from the caller (./dev exports some) and a throwaway HOME."""
    for key in list(os.environ):
        if key.upper().startswith("PODIUM_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def test_defaults(clean_env: Path) -> None:
    s = Settings()
    assert s.data_dir == clean_env / ".local" / "share" / "podium"
    assert s.repos_dir == s.data_dir / "repos"
    assert s.resolved_database_url == f"sqlite:///{s.data_dir / 'podium.db'}"
    assert s.redis_url == "" and s.database_url == ""
    assert s.public_base_url == "http://localhost:8080"
    assert s.ca_bundle is None and s.runners_dir is None and s.templates_dir is None
    assert s.base_image == "podium/base:bookworm"


def test_constructing_does_no_io(clean_env: Path) -> None:
    s = Settings()
    assert list(clean_env.iterdir()) == []
    assert not s.data_dir.exists()
    s.ensure_dirs()
    assert s.data_dir.is_dir() and s.repos_dir.is_dir()
    s.ensure_dirs()  # idempotent


def test_reads_podium_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = clean_env / "srv"
    env = {
        "PODIUM_DATA_DIR": str(data),
        "PODIUM_DOMAIN": "spaces.example.org",
        "PODIUM_SCHEME": "https",
        "PODIUM_PUBLIC_PORT": "443",
        "PODIUM_REDIS_URL": "redis://redis:6379/2",
        "PODIUM_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
        "PODIUM_BUILD_CPUS": "0.5",
        "podium_sleep_time": "0",  # names are case-insensitive
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.data_dir == data and s.repos_dir == data / "repos"
    assert s.resolved_database_url == f"sqlite:///{data / 'podium.db'}"
    assert s.domain == "spaces.example.org" and s.public_base_url == "https://spaces.example.org"
    assert s.redis_url == "redis://redis:6379/2"
    assert s.ca_bundle == Path("/etc/ssl/certs/ca-certificates.crt")
    assert s.build_cpus == 0.5 and s.sleep_time == 0
    assert not data.exists()


def test_database_url_from_env_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://podium:pw@db/podium"
    monkeypatch.setenv("PODIUM_DATABASE_URL", url)
    assert Settings().resolved_database_url == url


def test_arguments_beat_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_DOMAIN", "from-env.test")
    assert Settings(domain="from-arg.test").domain == "from-arg.test"
    assert Settings().domain == "from-env.test"


def test_bad_env_value_is_reported(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_PUBLIC_PORT", "eighty")
    with pytest.raises(ValidationError, match="public_port"):
        Settings()


@pytest.mark.parametrize(
    ("scheme", "domain", "port", "expected"),
    [
        ("http", "localhost", 80, "http://localhost"),
        ("http", "localhost", 8080, "http://localhost:8080"),
        ("https", "spaces.example.org", 443, "https://spaces.example.org"),
        ("https", "spaces.example.org", 80, "https://spaces.example.org:80"),
        ("http", "10.0.0.5.nip.io", 443, "http://10.0.0.5.nip.io:443"),
    ],
)
def test_public_base_url(scheme: str, domain: str, port: int, expected: str) -> None:
    assert Settings(scheme=scheme, domain=domain, public_port=port).public_base_url == expected


def test_no_module_reads_settings_at_import(tmp_path: Path) -> None:
    """Import every podium module with an invalid PODIUM_* value and a fresh HOME: a module
    that builds Settings (or touches the data dir) at import time fails or leaves files.
    Alembic migration scripts only run inside alembic, so they are left out."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PODIUM_")}
    env.update(HOME=str(home), PODIUM_PUBLIC_PORT="not-a-port",
               PODIUM_DATA_DIR=str(tmp_path / "must-not-exist"))
    script = (
        "import importlib, pkgutil, podium\n"
        "mods = [m.name for m in pkgutil.walk_packages(podium.__path__, 'podium.')\n"
        "        if not m.name.endswith('__main__') and '.migrations' not in m.name]\n"
        "for name in mods:\n"
        "    importlib.import_module(name)\n"
        "print(len(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 5
    assert not (tmp_path / "must-not-exist").exists()
    assert list(home.iterdir()) == []


@pytest.mark.parametrize(("scheme", "port", "suffix"),
                         [("http", 80, ""), ("http", 8080, ":8080"), ("https", 443, ""),
                          ("https", 8443, ":8443")])
def test_one_port_suffix_for_dashboard_spaces_and_csp(scheme: str, port: int, suffix: str) -> None:
    from podium.controller.urls import space_urls
    from podium.dashboard.pages import Pages
    from podium.names import SpaceId

    s = Settings(scheme=scheme, domain="podium.example", public_port=port)
    space = SpaceId("alice", "demo")
    assert s.public_base_url == f"{scheme}://podium.example{suffix}"
    assert s.space_origin(space) == f"{scheme}://alice-demo.podium.example{suffix}"
    assert space_urls(s, space)["host"] == f"{scheme}://alice-demo.podium.example{suffix}/"
    assert f"frame-src 'self' {scheme}://*.podium.example{suffix};" in (
        Pages(s).content_security_policy())
