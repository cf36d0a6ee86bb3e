"""The one-machine test cluster: a Docker Swarm of extra ``dockerd`` processes, each in a
network namespace of its own, joined by veth pairs to a bridge in a "switch" namespace, plus
a ``docker-registry`` on the host end of that bridge. The host's own engine is never touched
(no swarm on /var/run/docker.sock): node 1 is the manager, the others are workers.

The private subnet 10.213.K.0/24 is created here and only its addresses are ever contacted:
the host is .1, node i is .10+i. The bridge sits in its own namespace so traffic between
nodes never crosses the host's FORWARD chain (Docker's DROP policy, br_netfilter).

    python -m tests.cluster.hosts up|down|status [--state DIR] [--nodes N]   (./dev cluster)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

SUBNET_BASE = "10.213"
REGISTRY_PORT = 5000


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


@dataclass
class Node:
    name: str  # network namespace and cgroup parent, e.g. pdc3-n1
    addr: str
    root: str  # this node's directory: data-root, exec-root, socket, pidfile, log

    @property
    def socket(self) -> str:
        return f"unix://{self.root}/docker.sock"

    @property
    def pidfile(self) -> Path:
        return Path(self.root) / "docker.pid"


@dataclass
class Cluster:
    name: str  # prefix of every namespace, link and cgroup this cluster creates
    state: str  # directory holding cluster.json and each node's directory
    subnet: int  # the K of 10.213.K.0/24
    nodes: list[Node] = field(default_factory=list)
    registry_pids: list[int] = field(default_factory=list)
    push_registry: str = ""  # the same registry through loopback, for the host's engine
    up_seconds: float = 0.0

    @property
    def host_addr(self) -> str:
        return f"{SUBNET_BASE}.{self.subnet}.1"

    @property
    def registry(self) -> str:
        """The registry as nodes reach it (listed as insecure in their dockerd)."""
        return f"{self.host_addr}:{REGISTRY_PORT}"

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def save(self) -> None:
        Path(self.state, "cluster.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, state: Path) -> Cluster | None:
        path = state / "cluster.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        raw["nodes"] = [Node(**n) for n in raw["nodes"]]
        return cls(**raw)


def free_subnet() -> int:
    """A K whose 10.213.K.0/24 no interface on this host uses yet (several clusters may run
    side by side: parallel test sessions, a person's ./dev cluster)."""
    used = sh("ip", "-o", "-4", "addr").stdout
    for k in range(1, 250):
        if f" {SUBNET_BASE}.{k}." not in used:
            return k
    raise RuntimeError("no free 10.213.K.0/24 subnet")


def _netns(cluster: Cluster, node: str, *args: str) -> None:
    sh("ip", "netns", "exec", f"{cluster.name}-{node}", *args)


def make_network(cluster: Cluster, count: int) -> None:
    sw = f"{cluster.name}-sw"
    sh("ip", "netns", "add", sw)
    _netns(cluster, "sw", "ip", "link", "set", "lo", "up")
    _netns(cluster, "sw", "ip", "link", "add", "br0", "type", "bridge")
    _netns(cluster, "sw", "ip", "link", "set", "br0", "up")
    host_if = f"{cluster.name}-h"
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "up0", "netns", sw)
    _netns(cluster, "sw", "ip", "link", "set", "up0", "master", "br0", "up")
    sh("ip", "addr", "add", f"{cluster.host_addr}/24", "dev", host_if)
    sh("ip", "link", "set", host_if, "up")
    for i in range(1, count + 1):
        ns = f"{cluster.name}-n{i}"
        addr = f"{SUBNET_BASE}.{cluster.subnet}.{10 + i}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"p{i}", "netns", sw, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        _netns(cluster, "sw", "ip", "link", "set", f"p{i}", "master", "br0", "up")
        _netns(cluster, f"n{i}", "ip", "link", "set", "lo", "up")
        _netns(cluster, f"n{i}", "ip", "addr", "add", f"{addr}/24", "dev", "eth0")
        _netns(cluster, f"n{i}", "ip", "link", "set", "eth0", "up")
        _netns(cluster, f"n{i}", "ip", "route", "add", "default", "via", cluster.host_addr)
        root = Path(cluster.state, f"n{i}")
        root.mkdir(parents=True, exist_ok=True)
        cluster.nodes.append(Node(name=ns, addr=addr, root=str(root)))


def start_engine(cluster: Cluster, node: Node, timeout: float = 60.0) -> None:
    """dockerd in the node's network namespace only (nsenter --net: ``ip netns exec`` would
    also remount /sys and hide the cgroup hierarchy dockerd needs)."""
    root = Path(node.root)
    log = (root / "dockerd.log").open("ab")
    subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{node.name}", "dockerd",
         "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(node.pidfile), "-H", node.socket,
         "--cgroup-parent", node.name, "--insecure-registry", cluster.registry,
         "--userland-proxy=false", "--no-new-privileges", "--log-level", "warn"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker(node, "version", "--format", "{{.Server.Version}}", check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"dockerd of {node.name} did not start; see {root / 'dockerd.log'}")


def stop_engine(node: Node, timeout: float = 20.0) -> None:
    try:
        pid = int(node.pidfile.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def docker(node: Node, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("docker", "-H", node.socket, *args, check=check)


def form_swarm(cluster: Cluster) -> None:
    manager = cluster.manager
    docker(manager, "swarm", "init", "--advertise-addr", manager.addr,
           "--listen-addr", f"{manager.addr}:2377")
    token = docker(manager, "swarm", "join-token", "-q", "worker").stdout.strip()
    with ThreadPoolExecutor(len(cluster.nodes)) as pool:
        list(pool.map(lambda n: docker(
            n, "swarm", "join", "--token", token, "--advertise-addr", n.addr,
            f"{manager.addr}:2377"), cluster.nodes[1:]))
    for i, node in enumerate(cluster.nodes, start=1):
        docker(manager, "node", "update", "--label-add", f"podium.node=n{i}", node_id(node))


def node_id(node: Node) -> str:
    return docker(node, "info", "--format", "{{.Swarm.NodeID}}").stdout.strip()


def start_registry(cluster: Cluster) -> None:
    """Debian's docker-registry on the host end of the bridge, where nodes pull, and on a
    loopback port, where the host's own engine pushes: 127.0.0.0/8 is an insecure registry
    by default, so the host engine's configuration stays as it is."""
    from podium.children import free_port
    from podium.registry import RegistryServer

    cluster.push_registry = f"127.0.0.1:{free_port()}"
    server = RegistryServer(Path(cluster.state, "registry"),
                            [cluster.registry, cluster.push_registry], outlive_parent=True)
    server.start()
    cluster.registry_pids = [p.pid for p in server.processes]
    server.processes = []  # they live on past this process (./dev cluster up returns)


def prepare_nodes(cluster: Cluster, walls: bool = True) -> None:
    """What an operator runs on each real node after it joined: ``podium swarm node
    --network <the cluster's private network>`` (the Spaces network's local half and the
    firewall around it); without ``walls`` only the network (to show what the walls stop)."""
    for node in cluster.nodes:
        if walls:
            subprocess.run(
                ["nsenter", f"--net=/run/netns/{node.name}", sys.executable, "-m", "podium",
                 "swarm", "node", "--network", f"{SUBNET_BASE}.{cluster.subnet}.0/24"],
                check=True, capture_output=True, text=True,
                env={**os.environ, "DOCKER_HOST": node.socket})
        else:
            import docker

            from podium.scheduler.swarm_node import ensure_node_config
            ensure_node_config(docker.DockerClient(base_url=node.socket))


def up(state: Path, count: int = 3, name: str | None = None, walls: bool = True) -> Cluster:
    """Build the cluster; on any failure tear down what was made and raise."""
    began = time.monotonic()
    state.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(name=name or f"pdc{os.getpid() % 10000}", state=str(state),
                      subnet=free_subnet())
    try:
        make_network(cluster, count)
        cluster.save()
        start_registry(cluster)
        cluster.save()
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda n: start_engine(cluster, n), cluster.nodes))
        form_swarm(cluster)
        prepare_nodes(cluster, walls)
    except BaseException:
        down(state)
        raise
    cluster.up_seconds = round(time.monotonic() - began, 2)
    cluster.save()
    return cluster


def down(state: Path) -> None:
    """Tear down everything ``up`` made, whatever state it got to."""
    cluster = Cluster.load(state)
    if cluster is None:
        return
    with ThreadPoolExecutor(max(1, len(cluster.nodes))) as pool:
        list(pool.map(stop_engine, cluster.nodes))
    for pid in cluster.registry_pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    unmount_under(Path(cluster.state))
    for node in cluster.nodes:
        sh("ip", "netns", "del", node.name, check=False)
    sh("ip", "netns", "del", f"{cluster.name}-sw", check=False)
    sh("ip", "link", "del", f"{cluster.name}-h", check=False)
    for node in cluster.nodes:
        shutil.rmtree(node.root, ignore_errors=True)
    shutil.rmtree(Path(cluster.state, "registry"), ignore_errors=True)
    drop_host_walls(cluster.subnet)
    Path(cluster.state, "cluster.json").unlink(missing_ok=True)


def drop_host_walls(subnet: int) -> None:
    """A platform run against this cluster walls the HOST engine's build bridge off the
    cluster's addresses (``firewall.ensure_forward_walls``); those rules name addresses that
    are gone now (and the next cluster may reuse), so they go with it."""
    prefix = f"-d {SUBNET_BASE}.{subnet}."
    listing = sh("iptables", "-S", "DOCKER-USER", check=False).stdout.splitlines()
    for rule in listing:
        if rule.startswith("-A DOCKER-USER ") and prefix in rule:
            sh("iptables", "-D", *rule.split()[1:], check=False)


def unmount_under(root: Path) -> None:
    """The nodes' engines leave overlay and netns mounts behind when they are killed."""
    prefix = str(root.resolve()) + "/"
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if line.split()[4].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        sh("umount", "-l", target, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev cluster", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state", type=Path, default=Path(".dev/cluster"))
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    state = args.state.resolve()
    if args.command == "up":
        if Cluster.load(state) is not None:
            print(f"a cluster is already up in {state}; ./dev cluster down first")
            return 1
        cluster = up(state, args.nodes)
        print(json.dumps(summary(cluster), indent=1))
    elif args.command == "down":
        down(state)
    else:
        cluster = Cluster.load(state)
        print(json.dumps(summary(cluster) if cluster else {"up": False}, indent=1))
    return 0


def summary(cluster: Cluster) -> dict[str, object]:
    return {
        "manager": cluster.manager.socket, "registry": cluster.registry,
        "push_registry": cluster.push_registry,
        "nodes": {n.name: n.addr for n in cluster.nodes}, "up_seconds": cluster.up_seconds,
        "env": {"PODIUM_SCHEDULER_BACKEND": "swarm", "PODIUM_SWARM_HOST": cluster.manager.socket,
                "PODIUM_REGISTRY": cluster.registry,
                "PODIUM_REGISTRY_PUSH": cluster.push_registry},
    }


if __name__ == "__main__":
    sys.exit(main())
