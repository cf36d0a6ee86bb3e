"""Shared by the API, CLI and OpenAPI fuzz tests: Settings for a real API app (real Redis,
SQLite in tmp), a logged-in client, and the app served by uvicorn on a loopback port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from podium.config import Settings
from podium.proxy.testing import ServerThread
from podium.web import create_app

ADMIN_PASSWORD = "admin-password-1"
PASSWORD = "password-123"


def api_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data", "redis_url": redis_url, "database_url": "",
        "admin_user": "admin", "admin_password": ADMIN_PASSWORD, "push_handler": "",
        "domain": "podium.test", "public_port": 8080,
        **overrides,
    }
    settings = Settings(**values)
    settings.ensure_dirs()
    return settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login_token(client: TestClient, username: str, password: str, scope: str = "write") -> str:
    """A token for ``username`` made the way a person would: log in, then create one."""
    fresh = TestClient(client.app, base_url=str(client.base_url))
    reply = fresh.post("/api/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    made = fresh.post("/api/tokens", json={"name": f"{username}-{scope}", "scope": scope})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def add_user(client: TestClient, admin_token: str, username: str) -> str:
    reply = client.post("/api/users", headers=bearer(admin_token),
                        json={"username": username, "password": PASSWORD})
    assert reply.status_code == 201, reply.text
    return login_token(client, username, PASSWORD)


class ServedApp(ServerThread):
    """``create_app(settings)`` under uvicorn in a thread (lifespan on), for clients that
    need a real socket: the git client, the CLI."""

    def __init__(self, settings: Settings) -> None:
        # A bounded graceful shutdown: an SSE log stream a test left open must not hold it.
        super().__init__(create_app(settings), timeout_graceful_shutdown=3)
