"""What a Space is on Docker Swarm: the service spec built from a ``RunSpec`` (the same
walls the docker backend gives a container, as far as a 20.10 service can carry them), and
the ``Instance`` read back from a service and its task.

Per wall, on a service:
- uid 1000, every capability dropped (``CapabilityDrop``, new in 20.10), docker-init as
  PID 1, memory, CPU and pids limits (``Limits.Pids``, new in 20.10): carried;
- ``no-new-privileges``: a service has no ``security_opt``; nodes run dockerd with
  ``--no-new-privileges`` instead (README "Run on a cluster", tests/cluster checks it);
- memory+swap: a service cannot set memswap; nodes should run without swap;
- disk quotas and the Spaces' CPU-weight parent cgroup are per host (storage.py, cpu.py):
  not on a swarm (SECURITY.md);
- the Spaces network: a swarm-scoped ``bridge`` network with inter-container traffic off,
  created on each node as a task lands there; its walls are each node's firewall.
"""

from __future__ import annotations

import time
from typing import Any

from podium.names import SpaceId
from podium.scheduler.base import (
    COMMIT_LABEL,
    CREATED_LABEL,
    KEY_LABEL,
    PORT_LABEL,
    ROLE_LABEL,
    ROLE_SPACE,
    SDK_LABEL,
    SPACE_LABEL,
    Instance,
)
from podium.scheduler.spec import RunSpec
from podium.scheduler.storage import parse_size
from podium.scheduler.volumes import SCOPE_LABEL, SPACE_UID

HEALTH_LABEL = "podium.health_path"
STOP_GRACE_NS = 10 * 10**9
# A node label naming the Spaces whose node-local /data lives there: the placement
# constraint that pins them (set once the first task of the Space is placed).
DATA_NODE_LABEL = "podium.data."


def data_label(space_id: SpaceId, scope: str) -> str:
    return DATA_NODE_LABEL + space_id.data_volume(scope)


def volume_options(text: str) -> dict[str, str]:
    """"type=nfs,o=addr=10.0.0.5,rw,device=:/x" -> driver options. Commas inside ``o=``
    belong to it (mount options), as in ``docker volume create --opt``."""
    options: dict[str, str] = {}
    key = ""
    for part in (p for p in text.split(",") if p):
        name, eq, value = part.partition("=")
        if eq and name in {"type", "o", "device"}:
            key = name
            options[key] = value
        elif key:
            options[key] += "," + part
    return options


def service_spec(
    spec: RunSpec, *, image: str, name: str, scope: str, network: str,
    pinned_to: str | None, volume_opts: str,
) -> dict[str, Any]:
    """Keyword arguments for ``APIClient.create_service``: one replica, no restart (a crash
    is recorded as on one host; node loss is handled by ``swarm_watch``), the app's port
    published on its node in host mode (the proxy routes to node:port)."""
    env = spec.container_env()
    env.setdefault("HOME", "/tmp")
    labels = {
        ROLE_LABEL: ROLE_SPACE, SCOPE_LABEL: scope, SPACE_LABEL: str(spec.space_id),
        KEY_LABEL: spec.key, COMMIT_LABEL: spec.commit, PORT_LABEL: str(spec.app_port),
        SDK_LABEL: spec.sdk, CREATED_LABEL: f"{time.time():.6f}",
        HEALTH_LABEL: spec.health_path,
    }
    volume: dict[str, Any] = {"Labels": {ROLE_LABEL: "data", KEY_LABEL: spec.key,
                                         SCOPE_LABEL: scope}}
    if volume_opts:
        volume["DriverConfig"] = {"Name": "local", "Options": volume_options(volume_opts)}
    constraints = [f"node.labels.{data_label(spec.space_id, scope)}==true"] if pinned_to else []
    task = {
        "ContainerSpec": {
            "Image": image, "Labels": labels, "Hostname": spec.space_id.subdomain,
            "Env": [f"{k}={v}" for k, v in sorted(env.items())],
            "User": f"{SPACE_UID}:{SPACE_UID}", "Init": True, "CapabilityDrop": ["ALL"],
            "StopGracePeriod": STOP_GRACE_NS,
            "Mounts": [{"Type": "volume", "Source": spec.space_id.data_volume(scope),
                        "Target": "/data", "VolumeOptions": volume}],
        },
        "Resources": {"Limits": {
            "NanoCPUs": int(spec.cpus * 1e9),
            "MemoryBytes": parse_size(spec.memory, "memory"), "Pids": spec.pids,
        }},
        "RestartPolicy": {"Condition": "none"},
        "Placement": {"Constraints": constraints},
        "Networks": [{"Target": network}],
        "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}},
    }
    return {
        "task_template": task, "name": name, "labels": labels,
        "mode": {"Replicated": {"Replicas": 1}},
        "endpoint_spec": {"Ports": [{"Protocol": "tcp", "TargetPort": spec.app_port,
                                     "PublishMode": "host"}]},
    }


def instance_of(service: dict[str, Any], task: dict[str, Any] | None,
                node_addr: str | None) -> Instance:
    """The Instance of a service: running when its current task runs on a node that is up;
    its upstream the task's port published on that node."""
    spec = service["Spec"]
    labels = spec.get("Labels") or {}
    port = int(labels[PORT_LABEL])
    running = task is not None and task["Status"]["State"] == "running" and bool(node_addr)
    published = None
    if running and task is not None:
        for entry in (task["Status"].get("PortStatus") or {}).get("Ports") or []:
            if entry.get("TargetPort") == port:
                published = entry.get("PublishedPort")
    return Instance(
        id=service["ID"], name=spec["Name"], space=labels[SPACE_LABEL],
        space_key=labels[KEY_LABEL], commit=labels.get(COMMIT_LABEL, ""), app_port=port,
        sdk=labels.get(SDK_LABEL, ""), created=float(labels.get(CREATED_LABEL) or 0),
        running=running and published is not None, frozen=False,
        upstream=f"http://{node_addr}:{published}" if running and published else None,
        health_path=labels.get(HEALTH_LABEL, "/"),
        image=str(spec["TaskTemplate"]["ContainerSpec"]["Image"]),
    )
