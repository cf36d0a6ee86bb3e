"""The nginx-lua data plane: nginx on the public port, its routes pushed from the route
table into its shared memory (never reloaded), with the Python proxy behind it.

One process (``podium proxy``) runs three things: nginx (a child that dies with it), a sync
thread that pushes every route table change into nginx's shared dict and then records in
Redis which table generation this nginx serves (the scheduler waits for that before it
freezes or stops a container the old table sent traffic to), and an activity thread reading
nginx's buffered activity log (a Space's key per request) so that requests nginx serves
count as activity for sleep. The Python proxy serves, on a loopback port, everything nginx
hands over (see podium.proxy.plane.nginxlua).
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from podium.children import die_with_parent, end, free_port
from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.metrics.events import access_lines
from podium.metrics.recorder import Recorder
from podium.proxy.plane.base import DataPlane, require_redis
from podium.proxy.plane.nginxlua import MODULES, NginxLayout, changes, entries, render
from podium.proxy.plane.python import serve_python
from podium.proxy.plane.tls import check as check_tls
from podium.proxy.plane.visitlog import VisitSink
from podium.routes import HEARTBEAT_SECONDS, TOUCH_INTERVAL, RouteTable

log = logging.getLogger("podium.proxy")

_POLL_SECONDS = 0.1


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


class ActivityLog:
    """nginx's activity log (a line per served request, the Space's key first, written by
    nginx in buffered batches) -> the route table's activity hash and the request metrics
    (podium.metrics.events.access_lines), every TOUCH_INTERVAL.

    Why a file and not syslog datagrams: one datagram per request cost a third of the
    throughput on two cores (bench/proxy.py); a buffered file costs nginx one write per
    batch and this thread one read a second. Rotated (renamed, reopened by nginx on
    SIGUSR1) when it grows past ``rotate_bytes``."""

    def __init__(self, routes: RouteTable, path: Path, rotate_bytes: int = 8 << 20,
                 record: Callable[[list[bytes]], None] | None = None,
                 truncate: bool = False) -> None:
        self.routes = routes
        # What a batch of lines becomes: activity, unless the log is another (visits).
        self.record = record or self._record
        # Emptied after every read (the visit log holds client addresses: they must not
        # stay on disk). nginx appends (O_APPEND), so its next write lands at the new end.
        self.truncate = truncate
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.offset = 0
        self.rest = b""
        self.nginx: subprocess.Popen[bytes] | None = None
        self.metrics = Recorder(routes.redis)
        path.unlink(missing_ok=True)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(TOUCH_INTERVAL):
            self.collect()

    def collect(self) -> None:
        lines = self._read(self.path)
        if self.offset >= self.rotate_bytes and self._rotate():
            lines += self._read(self.path.with_suffix(".old"))
            self.path.with_suffix(".old").unlink(missing_ok=True)
            self.offset = 0
        self.record(lines)

    def _read(self, path: Path) -> list[bytes]:
        try:
            with path.open("rb") as file:
                file.seek(self.offset)
                data = self.rest + file.read()
                self.offset = file.tell()
                if self.truncate and os.fstat(file.fileno()).st_size == self.offset:
                    # Nothing arrived since the read (a write in between would be lost:
                    # nginx writes a batch a second, so the window is microseconds).
                    os.truncate(path, 0)
                    self.offset = 0
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        self.rest = lines.pop()  # an unfinished line waits for the next read
        return lines

    def _rotate(self) -> bool:
        nginx = self.nginx
        if nginx is None or nginx.poll() is not None:
            return False
        self.path.rename(self.path.with_suffix(".old"))
        nginx.send_signal(signal.SIGUSR1)  # reopen: workers flush and write a new file
        time.sleep(0.5)
        return True

    def _record(self, lines: list[bytes]) -> None:
        """The activity log's lines: request metrics, and each Space's last activity."""
        self.metrics.send(access_lines(lines))
        keys = {line.split(b" ", 1)[0] for line in lines}
        keys.discard(b"")
        if not keys:
            return
        now = repr(time.time())
        try:
            pipe = self.routes.redis.pipeline(transaction=False)
            for key in keys:
                pipe.hset(self.routes.keys.activity, key.decode("latin-1"), now)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("recording activity failed: %s", exc)


def _binary(settings: Settings) -> tuple[str, Path]:
    """nginx and its Lua modules' directory, or a ServiceUnavailable saying what to install."""
    binary = shutil.which(settings.nginx_binary)
    if binary is None:
        raise ServiceUnavailable(
            f"nginx ({settings.nginx_binary}) is not installed",
            hint="apt-get install nginx-light, or set PODIUM_PROXY_DATA_PLANE=python",
        )
    modules = lua_modules(binary)
    if modules is None:
        raise ServiceUnavailable(
            f"nginx ({binary}) has no Lua module",
            hint="apt-get install libnginx-mod-http-lua, or set "
                 "PODIUM_PROXY_DATA_PLANE=python",
        )
    return binary, modules


def _python_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


def _run_dir(settings: Settings) -> Path:
    run_dir = settings.data_dir / "proxy" / f"nginx-{settings.public_port}"
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
        # nginx's workers run as nobody when the master is root.
        os.chmod(run_dir / sub, 0o1777)
    return run_dir


class NginxPlane(DataPlane):
    name = "nginx-lua"

    def serve(self, *, workers: int = 1) -> None:
        settings = self.settings
        tls = check_tls(settings)  # before anything starts: a bad pair is the operator's
        binary, modules = _binary(settings)
        routes = RouteTable(redis.Redis.from_url(require_redis(settings)))
        python_sock = _python_socket()
        run_dir = _run_dir(settings)
        activity = ActivityLog(routes, run_dir / "activity.log")
        visits = ActivityLog(routes, run_dir / "visits.log", record=VisitSink(routes.redis),
                             truncate=True)
        layout = NginxLayout(
            run_dir=run_dir, listen=f"{settings.proxy_host}:{settings.public_port}",
            python_port=python_sock.getsockname()[1], activity_log=activity.path,
            visit_log=visits.path,
            control_port=free_port(), token=secrets.token_hex(16), modules=modules,
            workers=workers, shutdown_timeout=settings.drain_timeout + 30, tls=tls,
        )
        sync = RouteSync(layout, routes)
        sync.conf.write_text(render(layout, domain=settings.domain, scheme=settings.scheme))
        nginx = subprocess.Popen(
            [binary, "-p", str(run_dir), "-c", str(sync.conf), "-e", "stderr"],
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - a prctl only, before exec
        )
        sync.nginx = activity.nginx = visits.nginx = nginx
        stop = threading.Event()
        threads = [
            threading.Thread(target=sync.run, args=(stop,), name="podium-nginx-sync",
                             daemon=True),
            threading.Thread(target=activity.run, args=(stop,), name="podium-activity",
                             daemon=True),
            threading.Thread(target=visits.run, args=(stop,), name="podium-visits",
                             daemon=True),
        ]
        for thread in threads:
            thread.start()
        behind = settings.model_copy(update={"proxy_trusted_front": "127.0.0.1"})
        # uvicorn handles SIGTERM/SIGINT itself, then re-raises the signal it caught with the
        # handler it found: with the default one the process would die right there, before
        # nginx is stopped and this data plane is forgotten (the scheduler would then wait
        # for it until its heartbeat went stale).
        previous = {sig: signal.signal(sig, _exit_cleanly)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            serve_python(behind, sock=python_sock)
        except SystemExit:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            stop.set()
            sync.stop_nginx()
            for thread in threads:
                thread.join(timeout=3)
            activity.collect()
            visits.collect()
            routes.forget_plane(sync.plane)


class RouteSync:
    """Route table -> nginx's shared dict (a POST to its loopback control server) ->
    "applied" marker, whenever the table changes (and a heartbeat of the marker, so the
    scheduler knows this nginx is alive). Every worker reads the dict per request, so the
    POST's answer means every worker routes with the new table; no reload, no connection
    closed."""

    def __init__(self, layout: NginxLayout, routes: RouteTable) -> None:
        self.layout = layout
        self.routes = routes
        self.conf = layout.run_dir / "nginx.conf"
        self.plane = f"nginx-{uuid.uuid4().hex[:12]}"
        self.nginx: subprocess.Popen[bytes] | None = None
        # -1: the first pass of run() pushes the table once nginx listens, and only then
        # marks it applied.
        self.generation = -1
        self.pushed: dict[str, str] = {}  # the dict as nginx acknowledged it
        self.reached = False  # nginx answered once (before that, a refusal is expected)

    def run(self, stop: threading.Event) -> None:
        beat = 0.0
        while not stop.wait(_POLL_SECONDS):
            if self.nginx is not None and self.nginx.poll() is not None:
                # The public port is gone: stop this process so its supervisor restarts it.
                log.error("nginx exited with %s; stopping the proxy", self.nginx.returncode)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            try:
                generation = self.routes.generation()
                if generation != self.generation and self._apply():
                    self.generation = generation
                    beat = 0.0
                if time.monotonic() - beat >= HEARTBEAT_SECONDS / 2 and self.generation >= 0:
                    self.routes.mark_applied(self.plane, self.generation)
                    beat = time.monotonic()
            except redis.RedisError as exc:
                log.warning("route table unreachable: %s", exc)
                stop.wait(1.0)

    def _apply(self) -> bool:
        wanted = entries(self.routes.all())
        body = changes(self.pushed, wanted)
        if not body and self.reached:
            return True
        if not self._post(body):
            return False
        self.pushed = wanted
        return True

    def _post(self, body: str) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.layout.control_port, timeout=10)
        try:
            conn.request("POST", "/routes", body=body.encode(),
                         headers={"X-Podium-Token": self.layout.token,
                                  "Content-Type": "text/plain"})
            resp = conn.getresponse()
            answer = resp.read().decode(errors="replace").strip()
        except OSError as exc:
            # Until nginx listens the first time, refusals are the normal start-up.
            (log.warning if self.reached else log.debug)("route update not sent: %s", exc)
            return False
        finally:
            conn.close()
        if resp.status != 200:
            log.error("nginx refused the route update (%s): %s", resp.status, answer)
            return False
        self.reached = True
        return True

    def stop_nginx(self) -> None:
        if self.nginx is not None:
            end(self.nginx, timeout=5)  # SIGTERM: nginx's fast shutdown, the platform stops


def lua_modules(binary: str) -> Path | None:
    """The directory holding the ndk and Lua modules for this nginx, if they are there."""
    try:
        info = subprocess.run([binary, "-V"], capture_output=True, text=True, check=False,
                              timeout=10).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"--modules-path=(\S+)", info)
    directory = Path(found[1] if found else "/usr/lib/nginx/modules")
    return directory if all((directory / m).is_file() for m in MODULES) else None
