"""Which addresses a build worker walls its builds off (issue 12 item 3): every platform
service its settings name, by address, loopback left out (a bridge cannot reach it)."""

from __future__ import annotations

from podium.bridges import platform_addresses
from podium.config import Settings


def test_every_service_a_worker_reaches_is_walled_by_address() -> None:
    settings = Settings(
        redis_url="redis://:secret@10.0.0.5:6379/0",
        database_url="postgresql+psycopg://podium:pw@10.0.0.6:5432/podium",
        registry="10.0.0.7:5000", registry_push="127.0.0.1:5000",
        build_source_url="http://10.0.0.8:8080",
    )
    assert platform_addresses(settings) == [
        "10.0.0.5/32", "10.0.0.6/32", "10.0.0.7/32", "10.0.0.8/32"]


def test_a_worker_on_the_platform_host_adds_nothing() -> None:
    # Loopback Redis, SQLite, no registry: the INPUT rule already covers the host.
    settings = Settings(redis_url="redis://127.0.0.1:6379/0", database_url="")
    assert platform_addresses(settings) == []
