"""The embedded Redis: when no PODIUM_REDIS_URL is set, `podium up` runs the machine's own
redis-server with its data (AOF on) in the data dir, and stops it on exit."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from podium.children import die_with_parent, end, free_port
from podium.errors import ServiceUnavailable


class EmbeddedRedis:
    """A redis-server child process bound to loopback (or ``host``). Use as a context
    manager."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1",
                 password: str = ""):
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        # Needed off loopback (a cluster's address): redis-server's protected mode refuses
        # other addresses without one.
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable(
                "redis-server is not installed",
                hint="install it (apt-get install redis-server) or set PODIUM_REDIS_URL",
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "redis.log"
        args = [
            binary, "--bind", self.host, "--port", str(self.port), "--dir", str(self.data_dir),
            "--appendonly", "yes", "--save", "", "--daemonize", "no",
            "--logfile", str(log), "--protected-mode", "yes",
            *(["--requirepass", self.password] if self.password else []),
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent()
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise ServiceUnavailable(f"redis-server exited at start:\n{tail}")
            try:
                if client.ping():
                    return self.url
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise ServiceUnavailable(f"redis-server did not answer on port {self.port}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        end(self.process)
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
