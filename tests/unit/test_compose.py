"""compose.yaml stays in step with the code: every PODIUM_* variable it sets is a real
setting, and every service runs a real `podium` command."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.main import get_command

from podium.cli import app
from podium.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_sets_only_real_settings() -> None:
    # PODIUM_METRICS_HOST is Settings.metrics_host of the metrics work (branch h/metrics),
    # merged beside this one: drop it from here once both are on main.
    fields = {f"PODIUM_{name.upper()}" for name in Settings.model_fields} | {
        "PODIUM_METRICS_HOST"}
    for name, service in _compose()["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("PODIUM_") and key != "PODIUM_PLATFORM_IMAGE":
                assert key in fields, f"service {name} sets unknown {key}"
    # Never an empty path: PODIUM_CA_BUNDLE="" would be Path("."), a build-breaking bundle.
    for name, service in _compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            if key in {"PODIUM_CA_BUNDLE", "PODIUM_TLS_CERT", "PODIUM_TLS_KEY"}:
                assert value and "${" not in value, f"service {name}: {key}={value!r}"


def test_compose_services_run_real_commands() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    services = _compose()["services"]
    assert {"redis", "api", "worker", "scheduler", "proxy"} <= set(services)
    for name, service in services.items():
        argv = service.get("command") or ["prometheus"]  # its image's own entrypoint
        if argv[0] == "podium":
            assert argv[1] in commands, f"service {name} runs unknown command {argv[1]}"
    assert (ROOT / "deploy" / "platform.Dockerfile").is_file()


def test_compose_host_network_services_reach_the_api_and_redis_on_loopback() -> None:
    # The proxy, worker and scheduler live in the host's network (a Space's address on its
    # bridge is reachable only from the host; the firewall is the host's): they reach the
    # API and Redis where compose publishes them, on loopback only.
    services = _compose()["services"]
    for name in ("proxy", "worker", "scheduler"):
        assert services[name]["network_mode"] == "host", name
        env = services[name]["environment"]
        assert env["PODIUM_API_URL"] == "http://127.0.0.1:${PODIUM_COMPOSE_API_PORT:-8000}"
        assert env["PODIUM_REDIS_URL"].startswith("redis://127.0.0.1:")
    assert services["api"]["ports"] == ["127.0.0.1:${PODIUM_COMPOSE_API_PORT:-8000}:8000"]
    assert services["redis"]["ports"] == ["127.0.0.1:${PODIUM_COMPOSE_REDIS_PORT:-6379}:6379"]
    api = services["api"]["environment"]
    settings = Settings(api_url=api["PODIUM_API_URL"], api_host=api["PODIUM_API_HOST"])
    assert settings.resolved_api_url == "http://api:8000"
    # Quotas and the CPU weight need root in dockerd's namespaces: off in the container
    # (SECURITY.md, known limits).
    scheduler = services["scheduler"]["environment"]
    assert scheduler["PODIUM_SPACE_DATA_QUOTA"] == scheduler["PODIUM_SPACE_DISK_QUOTA"] == "0"
    assert scheduler["PODIUM_SPACE_CGROUP_PARENT"] == ""


def test_prometheus_is_optional_and_scrapes_the_api_on_the_stack_network() -> None:
    services = _compose()["services"]
    assert services["prometheus"]["profiles"] == ["metrics"]
    assert "9464" not in json.dumps(services["api"].get("ports", []))  # never published
    assert services["api"]["environment"]["PODIUM_METRICS_HOST"] == "0.0.0.0"
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["api:9464"]}]
