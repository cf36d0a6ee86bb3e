"""Who the client was when a trusted front proxy (the nginx data plane, or an operator's own
load balancer) stands before the Python proxy: its X-Forwarded-For is believed from it only."""

from __future__ import annotations

from podium.config import Settings
from podium.proxy.fastplan import FastPlanner
from podium.proxy.plane.python import uvicorn_options
from podium.proxy.wire import RequestHead


def head(*headers: tuple[bytes, bytes]) -> RequestHead:
    return RequestHead(method=b"GET", target=b"/", headers=list(headers),
                       host=b"alice-demo.localhost", size=0, keep_alive=True)


def planner(front: str) -> FastPlanner:
    return FastPlanner(Settings(proxy_trusted_front=front), None, None)  # type: ignore[arg-type]


def test_the_fast_path_believes_only_the_trusted_front() -> None:
    claimed = head((b"x-forwarded-for", b"6.6.6.6, 10.1.2.3"))
    assert planner("").client_of(claimed, "127.0.0.1") == "127.0.0.1"  # the public edge
    assert planner("127.0.0.1").client_of(claimed, "127.0.0.1") == "10.1.2.3"  # last hop's
    assert planner("127.0.0.1").client_of(claimed, "192.0.2.9") == "192.0.2.9"
    assert planner("*").client_of(claimed, "192.0.2.9") == "10.1.2.3"
    assert planner("127.0.0.1").client_of(head(), "127.0.0.1") == "127.0.0.1"


def test_uvicorn_reads_forwarded_headers_only_behind_a_trusted_front() -> None:
    edge = uvicorn_options(Settings())
    assert edge["proxy_headers"] is False
    behind = uvicorn_options(Settings(proxy_trusted_front="127.0.0.1"))
    assert behind["proxy_headers"] is True and behind["forwarded_allow_ips"] == "127.0.0.1"
