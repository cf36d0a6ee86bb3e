"""The embedded redis-server that `podium up` runs when no PODIUM_REDIS_URL is set."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from podium.services.redis_server import EmbeddedRedis
from tests.conftest import require


def test_embedded_redis_keeps_data_in_data_dir_with_aof(tmp_path: Path) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    data = tmp_path / "redis"
    server = EmbeddedRedis(data)
    with server:
        conn = redis.Redis.from_url(server.url)
        conn.set("podium:test", "kept")
        conn.close()
        pid = server.process.pid if server.process else None
    assert pid is not None
    assert server.process is None
    # AOF on: the write survives a restart of the embedded server from the same dir.
    assert any(p.name.startswith("appendonly") for p in data.iterdir())
    with EmbeddedRedis(data) as again:
        assert redis.Redis.from_url(again.url).get("podium:test") == b"kept"


def test_embedded_redis_binds_loopback_only(tmp_path: Path) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    with EmbeddedRedis(tmp_path / "r") as server:
        info = redis.Redis.from_url(server.url).config_get("bind")
        assert info["bind"].split() == ["127.0.0.1"]
