"""Who the client was when a trusted front proxy (the nginx data plane, or an operator's own
load balancer) stands before the Python proxy: its X-Forwarded-For is believed from it only."""

from __future__ import annotations

from podium.config import Settings
from podium.proxy.plane.python import uvicorn_options


def test_uvicorn_reads_forwarded_headers_only_behind_a_trusted_front() -> None:
    edge = uvicorn_options(Settings())
    assert edge["proxy_headers"] is False
    behind = uvicorn_options(Settings(proxy_trusted_front="127.0.0.1"))
    assert behind["proxy_headers"] is True and behind["forwarded_allow_ips"] == "127.0.0.1"
