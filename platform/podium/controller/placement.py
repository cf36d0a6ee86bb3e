"""Where a Space runs, for its owner's settings page: asked of the scheduler's backend, and
only when that backend spreads Spaces over nodes (a single-host install never builds a
backend, or reaches an engine, to render a page)."""

from __future__ import annotations

from podium.errors import PodiumError
from podium.names import SpaceId
from podium.scheduler import backend_class
from podium.scheduler.placement import Placement

from .platform import Platform


def placement_of(platform: Platform, space_id: SpaceId) -> Placement | None:
    """None on a single host; the facts otherwise, or a Placement carrying the error when
    the cluster could not be asked (the page still renders)."""
    if not backend_class(platform.settings).places_on_nodes:
        return None
    try:
        return platform.scheduler.placement(space_id.key)
    except PodiumError as exc:
        return Placement(node=None, data_node=None,
                         shared_data=bool(platform.settings.swarm_volume_options),
                         error=exc.message)
