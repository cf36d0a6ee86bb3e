"""Where a Space runs on a backend of several nodes, and whether its /data ties it to one:
what the dashboard tells the Space's owner (issue 12, item 5). A single-host backend has no
placement to report (``Backend.placement`` returns None)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeFacts:
    id: str
    name: str  # the node's hostname (or the name an operator gave it)
    addr: str  # its address on the cluster network
    up: bool  # ready: its engine answers the manager


@dataclass(frozen=True, slots=True)
class Placement:
    # The node the Space's current instance runs on; None when none runs (asleep, paused,
    # failed) or its task is not placed yet.
    node: NodeFacts | None
    # The node holding the Space's node-local /data, which every start of the Space is
    # constrained to; None when /data is shared or the Space never started.
    data_node: NodeFacts | None
    # /data is on shared storage (PODIUM_SWARM_VOLUME_OPTIONS): any node can run the Space.
    shared_data: bool
    # Set when the backend could not be asked (the manager did not answer): facts unknown.
    error: str = ""

    @property
    def pinned(self) -> bool:
        return self.data_node is not None
