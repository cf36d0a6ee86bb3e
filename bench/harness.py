"""What the whole-platform benches share (wake_platform.py, push.py and push_platform.py,
cpu.py): progress on stderr, a platform of their own (settings, teardown, logs kept on an
error), watchers that record, in a daemon thread, what Redis and the engine saw and when,
and the machine's load for the JSON. Imported by its siblings from this folder, as
``images.py`` is; not a bench itself.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Self

import docker
import redis

from podium.config import Settings
from podium.scheduler.base import KEY_LABEL
from podium.scheduler.storage import detach, mounted_from, unmount
from podium.scheduler.volumes import SCOPE_LABEL
from podium.services.redis_server import free_port

if TYPE_CHECKING:
    from podium.services.up import Started

WATCH_POLL_S = 0.005
T_START = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - T_START:7.1f}s] {message}", file=sys.stderr, flush=True)


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """The bench's docstring as its --help, its usage lines laid out as written."""
    return argparse.ArgumentParser(description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def terminate(signum: int, _frame: FrameType | None) -> None:
    """The SIGTERM handler: ``signal.signal(signal.SIGTERM, terminate)``."""
    raise SystemExit(128 + signum)  # run the finally blocks: stop the platform, containers


def machine_load() -> dict[str, Any]:
    """What else the machine was doing: wakes are CPU-bound (Gradio's import)."""
    out: dict[str, Any] = {"loadavg": [round(x, 2) for x in os.getloadavg()]}
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        out["cpu_pressure_avg60"] = float(some[2].split("=")[1])
    except (OSError, IndexError, ValueError):
        pass
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3),
            "min": round(min(values), 3), "max": round(max(values), 3)}


# -- a platform of the bench's own -------------------------------------------------------
def platform_settings(data_dir: Path, **extra: Any) -> Settings:
    """Settings for a platform that shares nothing with another install: its own data dir,
    embedded Redis and SQLite, free ports and a unique ``instance`` (the scope label of
    its containers, by which they are removed at the end)."""
    return Settings(
        data_dir=data_dir, redis_url="", database_url="",
        public_port=free_port(), api_port=free_port(),
        admin_password=secrets.token_urlsafe(12),
        instance=f"bench-{uuid.uuid4().hex[:8]}",
        **extra,
    )


def space_containers(client: docker.DockerClient, scope: str, key: str,
                     include_stopped: bool = False) -> list[Any]:
    """One Space's containers in this run's scope (running ones unless told), but not a
    warm standby frozen while it waits for code (scheduler/warm.py)."""
    found = client.containers.list(all=include_stopped, filters={"label": [
        f"{SCOPE_LABEL}={scope}", f"{KEY_LABEL}={key}"]})
    return [c for c in found if not ("podium.standby" in c.labels and c.status == "paused")]


def remove_containers(client: docker.DockerClient, scope: str) -> int:
    # A platform's Spaces outlive its processes by design (reconcile adopts them): remove
    # this run's, as the e2e fixture does.
    found = client.containers.list(all=True, filters={"label": f"{SCOPE_LABEL}={scope}"})
    for container in found:
        container.remove(force=True)
    return len(found)


def stop_platform(started: Started, client: docker.DockerClient, settings: Settings) -> None:
    """Stop its processes, remove this run's containers, then unmount the quota images and
    remove the /data volumes of its Spaces, as tests/platforms.py does: the temporary data
    dir goes at the end, and a mount in it would outlive it (its removal fails, busy)."""
    say("stopping the platform")
    started.stop()
    removed = remove_containers(client, settings.instance)
    say(f"removed {removed} container(s) of {settings.instance}")
    for target, image in mounted_from(settings.data_dir).items():
        unmount(target)
        detach(image)
    for volume in client.volumes.list(filters={"label": f"{SCOPE_LABEL}={settings.instance}"}):
        volume.remove(force=True)


def record_failure(results: dict[str, Any], err: Exception, settings: Settings,
                   logs_prefix: str, **details: Any) -> None:
    """A partial result still says where it stopped (and ``details``, as told), and where a
    copy of the platform's logs outlives its temporary data dir."""
    results["error"] = f"{type(err).__name__}: {err}"
    say(results["error"])
    traceback.print_exc()
    results |= details
    kept = Path(tempfile.mkdtemp(prefix=logs_prefix)) / "logs"
    shutil.copytree(settings.data_dir / "logs", kept, dirs_exist_ok=True)
    results["logs"] = str(kept)
    say(f"the platform's logs are kept in {kept}")


# -- watchers ----------------------------------------------------------------------------
class Background:
    """A daemon thread that runs ``_run`` for the length of a with-block."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


class RedisPoller(Background):
    """Polls, every few ms, what the platform writes (``sample``: per key, its values now)
    and keeps the first time each value was seen: ``seen`` holds (time, key, what, value)."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(name)
        self.conn = redis.Redis.from_url(url)
        self.seen: list[tuple[float, str, str, str]] = []

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.conn.close()

    def sample(self) -> Iterator[tuple[str, dict[str, str]]]:
        """Yields (key, {what: value}) for each thing watched; a failed read yields none."""
        raise NotImplementedError

    def _run(self) -> None:
        last: dict[tuple[str, str], str] = {}
        while not self._stop.is_set():
            for key, values in self.sample():
                now = time.time()
                for what, value in values.items():
                    if last.get((key, what)) != value:
                        last[(key, what)] = value
                        self.seen.append((now, key, what, value))
            self._stop.wait(WATCH_POLL_S)

    def first(self, key: str, what: str, since: float,
              test: Callable[[str], bool]) -> float | None:
        return next((t for t, k, w, v in list(self.seen)
                     if k == key and w == what and t >= since and test(v)), None)

    def last_value(self, key: str, what: str) -> str | None:
        return next((v for _, k, w, v in reversed(list(self.seen)) if k == key and w == what),
                    None)


class EngineEvents(Background):
    """The engine's container events for this instance's Spaces, with their own timestamps."""

    def __init__(self, client: docker.DockerClient, scope: str) -> None:
        super().__init__("engine-events")
        self.seen: list[tuple[float, str]] = []
        self._stream = client.events(
            decode=True, since=int(time.time()) - 1,
            filters={"type": "container", "label": f"{SCOPE_LABEL}={scope}"},
        )

    def __exit__(self, *exc: object) -> None:
        self._stream.close()  # the thread blocks reading it: closing it ends the thread
        super().__exit__(*exc)

    def _run(self) -> None:
        try:
            for event in self._stream:
                action = str(event.get("Action") or event.get("status") or "")
                stamp = event.get("timeNano")
                at = stamp / 1e9 if stamp else float(event.get("time", time.time()))
                self.seen.append((at, action))
        except Exception:  # the stream closed under us at the end
            return

    def first(self, action: str, since: float) -> float | None:
        return next((t for t, what in list(self.seen) if what == action and t >= since), None)
