"""Host firewall rules that keep Space containers away from the platform's own services.

Docker lets a container reach every address of its host through the bridge gateway, so a
service bound to 0.0.0.0 (the proxy, or a Redis someone exposed) would be open to user code.
Packets from the Spaces bridge to the host go through the INPUT chain, which Docker leaves
alone: we drop them there, except replies to connections the host opened (the proxy and
health checks talk to containers, and their answers come back this way). Traffic to the
internet is forwarded, not input, so it keeps working as for any container.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from podium.errors import ServiceUnavailable

CHAIN = "PODIUM-SPACES"
# Cloud metadata endpoints hand out host credentials; user code has no business there.
LINK_LOCAL = "169.254.0.0/16"


def _iptables(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("iptables")
    if exe is None:
        raise ServiceUnavailable(
            "iptables is not installed: Spaces could reach services on this host",
            hint="apt-get install iptables (and run the scheduler as root)",
        )
    proc = subprocess.run(
        [exe, "-w", "10", *args], capture_output=True, text=True, check=False, timeout=60
    )
    if check and proc.returncode != 0:
        raise ServiceUnavailable(
            f"iptables {' '.join(args)} failed: {proc.stderr.strip()}",
            hint="the scheduler needs root (CAP_NET_ADMIN) to isolate Spaces from the host",
        )
    return proc


def _ensure_rule(table_chain: str, rule: Sequence[str], *, position: int | None = None) -> None:
    if _iptables(["-C", table_chain, *rule], check=False).returncode == 0:
        return
    if position is None:
        _iptables(["-A", table_chain, *rule])
    else:
        _iptables(["-I", table_chain, str(position), *rule])


def ensure_isolation(bridge: str) -> None:
    """Idempotently install the rules for the bridge interface ``bridge``."""
    if _iptables(["-n", "-L", CHAIN], check=False).returncode != 0:
        _iptables(["-N", CHAIN])
    _ensure_rule(CHAIN, ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"])
    _ensure_rule(CHAIN, ["-j", "DROP"])
    # A DROP placed before the ESTABLISHED rule (e.g. by a hand edit) would cut the proxy off.
    listing = _iptables(["-S", CHAIN]).stdout.splitlines()
    rules = [line for line in listing if line.startswith("-A ")]
    if rules and "ESTABLISHED" not in rules[0]:
        _iptables(["-F", CHAIN])
        ensure_isolation(bridge)
        return
    _ensure_rule("INPUT", ["-i", bridge, "-j", CHAIN], position=1)
    # DOCKER-USER exists once dockerd has started; it filters forwarded traffic.
    if _iptables(["-n", "-L", "DOCKER-USER"], check=False).returncode == 0:
        _ensure_rule("DOCKER-USER", ["-i", bridge, "-d", LINK_LOCAL, "-j", "DROP"], position=1)


def isolation_active(bridge: str) -> bool:
    return _iptables(["-C", "INPUT", "-i", bridge, "-j", CHAIN], check=False).returncode == 0


def ensure_forward_walls(bridge: str, networks: Sequence[str]) -> None:
    """On a cluster node: Spaces behind ``bridge`` open no connection to ``networks`` (the
    cluster's private ones: the registry, Redis, the API, other nodes' engines), while
    replies to connections made to them (the proxy reaching a published port) still pass.
    With ``ensure_isolation`` for the node's own ports, the single-host walls carried over."""
    ensure_isolation(bridge)
    for net in networks:
        _ensure_rule("DOCKER-USER", ["-i", bridge, "-d", net, "-m", "conntrack",
                                     "--ctstate", "NEW", "-j", "DROP"], position=1)
