"""The Docker engine's events for Space containers: how the scheduler learns within
seconds that a Space crashed or was OOM-killed, instead of at the next reconcile."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from podium.scheduler.base import KEY_LABEL, EngineEvent

_EVENT_ACTIONS = ("die", "oom")
_RECONNECT_S = 1.0


def follow_events(
    client: docker.DockerClient, labels: list[str], stop: threading.Event,
) -> Iterator[EngineEvent]:
    """The engine's die and oom events of containers with every one of ``labels`` (this
    install's Space containers), until ``stop``. A lost connection (the engine restarted)
    is retried every second from the last event seen; what died while the engine was down
    is found by the periodic reconcile."""
    since = time.time()
    filters = {"type": "container", "event": list(_EVENT_ACTIONS), "label": labels}
    while not stop.is_set():
        try:
            stream = client.api.events(since=int(since), filters=filters, decode=True)
        except docker.errors.DockerException:
            stop.wait(_RECONNECT_S)
            continue
        closer = threading.Thread(target=_close_on, args=(stop, stream), daemon=True,
                                  name="podium-events-close")
        closer.start()
        try:
            for raw in stream:
                event = _engine_event(raw)
                if event is not None:
                    since = event.at
                    yield event
        except Exception:  # noqa: BLE001 - any break of the stream means "reconnect"
            pass
        stop.wait(_RECONNECT_S)


def _close_on(stop: threading.Event, stream: Any) -> None:
    stop.wait()
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - closing a dead stream may fail; it is closed
        pass


def _engine_event(raw: dict[str, Any]) -> EngineEvent | None:
    actor = raw.get("Actor") or {}
    labels = actor.get("Attributes") or {}
    action = str(raw.get("Action") or raw.get("status") or "")
    key = labels.get(KEY_LABEL)
    if action not in _EVENT_ACTIONS or not key or not actor.get("ID"):
        return None
    at = int(raw.get("timeNano") or 0) / 1e9 or float(raw.get("time") or time.time())
    return EngineEvent(str(actor["ID"]), str(key), action, at)
