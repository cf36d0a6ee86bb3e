"""The Swarm service spec a Space becomes (scheduler/swarm_spec.py), without an engine: the
walls it carries, placement, /data, and the Instance read back from a service and task."""

from __future__ import annotations

from pathlib import Path

from podium.config import Settings
from podium.names import SpaceId
from podium.scheduler.spec import RunSpec
from podium.scheduler.swarm_spec import data_label, instance_of, service_spec, volume_options


def make(tmp_path: Path, **kw: str) -> dict:  # type: ignore[type-arg]
    settings = Settings(data_dir=tmp_path)
    spec = RunSpec.for_space(settings, SpaceId("alice", "Demo"), "reg:5000/x@sha256:" + "a" * 64,
                             app_port=7860, sdk="gradio", commit="c1", memory="256m", pids=64,
                             cpus=0.5, secrets={"HF_TOKEN": "t"})
    return service_spec(spec, image=spec.image, name="svc", scope="s", network="podium-spaces",
                        pinned_to=kw.get("pinned"), volume_opts=kw.get("opts", ""))


def test_the_service_carries_the_single_host_walls(tmp_path: Path) -> None:
    task = make(tmp_path)["task_template"]
    container = task["ContainerSpec"]
    assert container["User"] == "1000:1000" and container["CapabilityDrop"] == ["ALL"]
    assert container["Init"] is True and "HF_TOKEN=t" in container["Env"]
    assert task["Resources"]["Limits"] == {"NanoCPUs": 500_000_000,
                                           "MemoryBytes": 256 << 20, "Pids": 64}
    assert task["RestartPolicy"] == {"Condition": "none"}  # crashes are recorded, not looped
    assert not any("docker.sock" in str(m) for m in container["Mounts"])


def test_node_local_data_pins_and_shared_data_does_not(tmp_path: Path) -> None:
    label = data_label(SpaceId("alice", "Demo"), "s")
    pinned = make(tmp_path, pinned="node1")["task_template"]
    assert pinned["Placement"]["Constraints"] == [f"node.labels.{label}==true"]
    shared = make(tmp_path, opts="type=nfs,o=addr=10.0.0.5,rw,device=:/x")["task_template"]
    assert shared["Placement"]["Constraints"] == []
    driver = shared["ContainerSpec"]["Mounts"][0]["VolumeOptions"]["DriverConfig"]
    assert driver == {"Name": "local", "Options": {
        "type": "nfs", "o": "addr=10.0.0.5,rw", "device": ":/x"}}
    assert volume_options("") == {}


def test_an_instance_is_routed_to_its_node_and_port_only_while_the_node_is_up(
    tmp_path: Path,
) -> None:
    made = make(tmp_path)
    service = {"ID": "sid", "Spec": {"Name": "svc", "Labels": made["labels"],
                                     "TaskTemplate": made["task_template"]}}
    task = {"Status": {"State": "running", "PortStatus": {"Ports": [
        {"TargetPort": 7860, "PublishedPort": 30001}]}}}
    up = instance_of(service, task, "10.0.0.7")
    assert up.running and up.upstream == "http://10.0.0.7:30001"
    assert up.space_key == SpaceId("alice", "Demo").key
    down = instance_of(service, task, None)
    assert not down.running and down.upstream is None
