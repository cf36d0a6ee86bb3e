"""compose.yaml stays in step with the code: every PODIUM_* variable it sets is a real
setting, and every service runs a real `podium` command."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from podium.cli import app
from podium.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_sets_only_real_settings() -> None:
    fields = {f"PODIUM_{name.upper()}" for name in Settings.model_fields}
    for name, service in _compose()["services"].items():
        for key in service.get("environment", {}):
            if key.startswith("PODIUM_") and key != "PODIUM_PLATFORM_IMAGE":
                assert key in fields, f"service {name} sets unknown {key}"


def test_compose_services_run_real_commands() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    services = _compose()["services"]
    assert {"redis", "api", "worker", "scheduler", "proxy"} <= set(services)
    for name, service in services.items():
        argv = service["command"]
        if argv[0] == "podium":
            assert argv[1] in commands, f"service {name} runs unknown command {argv[1]}"
    assert (ROOT / "deploy" / "platform.Dockerfile").is_file()


def test_compose_proxy_reaches_api_by_service_name() -> None:
    proxy = _compose()["services"]["proxy"]["environment"]
    settings = Settings(api_url=proxy["PODIUM_API_URL"], api_host=proxy["PODIUM_API_HOST"])
    assert settings.resolved_api_url == "http://api:8000"
