"""Item 11: the embedded Redis is supervised like the other children of `podium up`: killed
with SIGKILL, it is back on the same URL within seconds, with the data AOF kept."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

import redis

from podium.config import Settings
from podium.services.redis_server import free_port
from podium.services.up import start_platform
from tests.conftest import require


def test_item11_a_killed_redis_comes_back_within_seconds(tmp_path: Path) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    settings = Settings(
        data_dir=tmp_path / "data", redis_url="", database_url="", public_port=free_port(),
        api_port=free_port(), admin_password="x" * 16, instance=f"rel-{uuid.uuid4().hex[:8]}",
    )
    started = start_platform(settings, demo=False, say=lambda _m: None)
    watcher = threading.Thread(target=started.supervisor.watch, args=(0.5,), daemon=True)
    watcher.start()
    try:
        assert started.redis is not None and started.redis.process is not None
        conn = redis.Redis.from_url(started.settings.redis_url, socket_timeout=2)
        conn.set("item11", "kept")
        old_pid = started.redis.process.pid
        started.redis.process.kill()
        killed_at = time.monotonic()
        while True:
            try:
                if conn.ping() and started.redis.process.pid != old_pid:
                    break
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            assert time.monotonic() - killed_at < 15, "redis-server did not come back"
            time.sleep(0.2)
        print(f"redis back {time.monotonic() - killed_at:.1f} s after SIGKILL")
        assert conn.get("item11") == b"kept"  # appendonly: written before the kill
        time.sleep(5)  # the other children rode out the outage: none crashed
        restarts = {c.role: (c.restarts, c.alive()) for c in started.supervisor.children}
        assert all(n == 0 and alive for n, alive in restarts.values()), restarts
    finally:
        started.stop()
