"""Issue 12, item 5: on a cluster, a Space's settings page says which node it runs on and
whether its node-local /data pins it there (and what a lost node then means), or that its
/data is shared and it can move. Rendered through the real API app (SQLite, real Redis);
the cluster's answers come from a stand-in scheduler (tests/cluster/test_platform.py asks
a real swarm). A single-host install shows nothing and never builds a backend for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from podium.config import Settings
from podium.controller.platform import Platform
from podium.errors import ServiceUnavailable
from podium.scheduler.placement import NodeFacts, Placement
from podium.web import create_api
from tests.integration.test_dashboard_pages import Dash, dash  # noqa: F401

pytestmark = [pytest.mark.redis]

WORKER = NodeFacts(id="n2", name="worker-<2>", addr="10.213.7.12", up=True)


class ClusterAnswers:
    """What Scheduler.placement answers on a swarm, by Space key."""

    def __init__(self) -> None:
        self.by_key: dict[str, Placement] = {}
        self.unreachable = False
        self.asked: list[str] = []

    def placement(self, space_key: str) -> Placement | None:
        self.asked.append(space_key)
        if self.unreachable:
            raise ServiceUnavailable("the swarm manager did not answer: connection refused")
        return self.by_key.get(space_key)


@pytest.fixture
def cluster_dash(settings: Settings, redis_url: str) -> Iterator[tuple[Dash, ClusterAnswers]]:
    s = settings.model_copy(update={"redis_url": redis_url, "scheduler_backend": "swarm"})
    platform = Platform(s)
    answers = ClusterAnswers()
    platform.__dict__["scheduler"] = answers  # the cached_property, answered by the stand-in
    with TestClient(create_api(s, platform)) as client:
        yield Dash(client, platform, s), answers
    platform.close()


def placement_panel(page: str) -> str:
    start = page.index("data-placement")
    return page[start:page.index("</section>", start)]


def owners_panel(board: Dash, answers: ClusterAnswers, name: str,
                 placement: Placement) -> tuple[str, str]:
    """The panel dana sees on her Space ``name``, placed where the cluster says."""
    board.user("dana")
    space_id = board.space(f"dana/{name}")
    answers.by_key[space_id.key] = placement
    board.sign_in("dana")
    return space_id.key, placement_panel(board.page(f"/dana/{name}/settings"))


def test_a_pinned_space_names_its_node_and_says_it_waits_for_it(
    cluster_dash: tuple[Dash, ClusterAnswers],
) -> None:
    board, answers = cluster_dash
    key, panel = owners_panel(board, answers, "Tool",
                              Placement(node=WORKER, data_node=WORKER, shared_data=False))
    assert answers.asked == ["dana/tool"]
    # The owner learns the node's name; its address is for admins.
    assert "Runs on node <strong>worker-&lt;2&gt;</strong>." in panel
    assert "Pinned to node <strong>worker-&lt;2&gt;</strong>:" in panel
    assert "10.213.7.12" not in panel
    assert "its /data is a volume on that node" in panel
    assert "stays down until the node is back" in panel
    assert "PODIUM_SWARM_VOLUME_OPTIONS" in panel

    board.user("root", admin=True)
    board.sign_in("root")
    lost = NodeFacts(id="n2", name="worker-2", addr="10.213.7.12", up=False)
    answers.by_key[key] = Placement(node=None, data_node=lost, shared_data=False)
    panel = placement_panel(board.page("/dana/Tool/settings"))
    assert "Runs on no node right now" in panel
    assert "Pinned to node <strong>worker-2</strong> (10.213.7.12), which is down" in panel


def test_shared_data_says_the_space_moves_and_an_unreachable_manager_is_said(
    cluster_dash: tuple[Dash, ClusterAnswers],
) -> None:
    board, answers = cluster_dash
    key, panel = owners_panel(board, answers, "moves",
                              Placement(node=WORKER, data_node=None, shared_data=True))
    assert "/data is on shared storage" in panel
    assert "starts again on another node" in panel
    assert "Pinned" not in panel

    answers.by_key[key] = Placement(node=None, data_node=None, shared_data=False)
    assert "pinned to that node" in placement_panel(board.page("/dana/moves/settings"))

    answers.unreachable = True
    panel = placement_panel(board.page("/dana/moves/settings"))  # the page still renders
    assert "could not be asked where this Space runs" in panel
    assert "connection refused" in panel


def test_a_single_host_install_shows_no_placement_and_builds_no_backend(
    dash: Dash,  # noqa: F811
) -> None:
    dash.user("dana")
    dash.space("dana/tool")
    dash.sign_in("dana")
    page = dash.page("/dana/tool/settings")
    assert "data-placement" not in page and "Where it runs" not in page
    assert "scheduler" not in dash.platform.__dict__  # no engine was reached for the page
