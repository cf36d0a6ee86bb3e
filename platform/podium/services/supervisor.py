"""Runs Podium's processes side by side for `podium up` on one machine: the API (with the
dashboard and git server), the build worker, the proxy and the scheduler loop. Each is a
`podium <role>` child process, so the same pieces run separately in compose or across hosts.

A child that dies is restarted with a back-off; its output goes to data_dir/logs/<role>.log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from podium.children import die_with_parent
from podium.config import Settings
from podium.errors import ServiceUnavailable

if TYPE_CHECKING:
    from podium.services.redis_server import EmbeddedRedis

@dataclass
class Child:
    role: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    _log: object | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._log = log
        self.process = subprocess.Popen(
            self.args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent(),
        )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            # Signal the whole session: uvicorn and rq fork helpers of their own.
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


class Supervisor:
    ROLES = ("api", "worker", "proxy", "scheduler")

    def __init__(
        self, settings: Settings, env: dict[str, str], roles: tuple[str, ...] = ROLES,
        redis: EmbeddedRedis | None = None,
    ):
        self.settings = settings
        self.env = env
        # The embedded redis-server (issue item 11): restarted on the same port and data
        # dir (AOF keeps the queue) when it dies; the roles reconnect to it.
        self.redis = redis
        self._redis_failures = 0
        self._redis_retry_at = 0.0
        logs = settings.data_dir / "logs"
        self.children = [
            Child(role, [sys.executable, "-m", "podium", role], logs / f"{role}.log")
            for role in roles
        ]
        self._stop = threading.Event()

    def start(self) -> None:
        for child in self.children:
            child.start(self.env)

    def watch(self, poll: float = 1.0) -> None:
        """Restart dead children until stop() is called."""
        while not self._stop.wait(poll):
            self._watch_redis()
            for child in self.children:
                if child.alive() or self._stop.is_set():
                    continue
                # Back off when a child keeps dying at start, so a broken config does not
                # spin the CPU; the log file says why it died.
                quick_death = time.monotonic() - child.started_at < 10
                child.restarts += 1
                if quick_death and child.restarts > 5:
                    continue
                child.stop()
                child.start(self.env)

    def _watch_redis(self) -> None:
        """Restart a dead embedded Redis, backing off (1, 2, 4 ... 30 s) while it keeps
        failing to start; the reason is in its log."""
        if self.redis is None or self.redis.alive() or time.monotonic() < self._redis_retry_at:
            return
        try:
            self.redis.stop()
            self.redis.start()
            self._redis_failures = 0
        except ServiceUnavailable:
            self._redis_failures += 1
            self._redis_retry_at = time.monotonic() + min(30.0, 2.0 ** self._redis_failures)

    def stop(self) -> None:
        self._stop.set()
        for child in reversed(self.children):
            child.stop()

    def status(self) -> dict[str, bool]:
        roles = {child.role: child.alive() for child in self.children}
        if self.redis is not None:
            roles["redis"] = self.redis.alive()
        return roles
