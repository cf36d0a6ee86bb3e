"""Issue 10, item 4 (imports): ``from_url`` must not make the platform fetch from itself or
its networks (an SSRF), nor tell an open port from a closed one (a port scanner).

The real API under uvicorn (real Redis, real git) is asked to import from the API's own
port, the Redis port, a recording listener reached by every spelling of loopback, the
host's own address, private, link-local, multicast and unspecified ranges and a closed
port: every one ends with the same message, just as fast, and the listener sees nothing.
A redirect from an admin-opened source to loopback is not followed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import redis

from podium.config import Settings
from podium.services.redis_server import free_port
from tests.integration.api_helpers import ServedApp, api_settings
from tests.reliability.listeners import Listener
from tests.reliability.test_import_hang import admin_token

HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def host_ipv4() -> str | None:
    """One of this host's own non-loopback IPv4 addresses (Docker's bridge counts)."""
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                return str(addr.address)
    return None


@pytest.fixture
def served(tmp_path: Path, redis_url: str, redis_conn: redis.Redis) -> Iterator[
        tuple[str, Settings]]:
    # Bounds far above the refusal time: a refusal that waited for any network would show.
    settings = api_settings(tmp_path, redis_url, import_connect_timeout=10, import_stall_s=10,
                            import_timeout=20, import_per_owner=40)
    with ServedApp(settings) as server:
        yield server.url, settings


def outcome(base: str, auth: dict[str, str], name: str, url: str) -> tuple[str, float]:
    """What the user is told about importing ``url``, and how long it took to tell."""
    started = time.monotonic()
    try:
        reply = httpx.post(f"{base}/api/spaces", headers=auth, timeout=20,
                           json={"name": name, "from_url": url})
    except httpx.TimeoutException:
        return "no answer in 20 s", time.monotonic() - started
    if reply.status_code != 201:
        return f"{reply.status_code} {reply.json().get('message')}", time.monotonic() - started
    while True:
        space = httpx.get(f"{base}/api/spaces/admin/{name}", headers=auth, timeout=10).json()
        if space["stage"] != "BUILDING" or time.monotonic() - started > 20:
            return f"{space['stage']} {space['stage_message']}", time.monotonic() - started
        time.sleep(0.05)


def test_item4_imports_from_this_host_and_private_networks_are_refused_alike(served) -> None:
    base, settings = served
    auth = {"Authorization": f"Bearer {admin_token(base)}"}
    api_port = urlsplit(base).port
    redis_port = urlsplit(settings.redis_url).port
    with Listener("0.0.0.0", reply=HTTP_OK) as recorder:
        rec = recorder.port
        urls = [
            f"http://127.0.0.1:{api_port}/spaces/admin/x.git",
            f"http://127.0.0.1:{redis_port}/x.git",
            f"http://127.0.0.1:{rec}/x.git",
            f"http://localhost:{rec}/x.git",
            f"http://[::1]:{api_port}/x.git",
            f"http://[::ffff:127.0.0.1]:{rec}/x.git",
            f"http://2130706433:{rec}/x.git",
            f"http://0x7f.0.0.1:{rec}/x.git",
            f"http://0177.0.0.1:{rec}/x.git",
            f"http://127.1:{rec}/x.git",
            f"http://0.0.0.0:{rec}/x.git",
            f"http://127.0.0.1:{free_port()}/closed.git",
            "http://10.0.0.1/x.git",
            "http://192.168.1.1/x.git",
            "http://172.16.0.1/x.git",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/x.git",
            "http://224.0.0.1/x.git",
            "http://no-such-host.invalid/x.git",
        ]
        own = host_ipv4()
        if own is not None:
            urls.append(f"http://{own}:{rec}/x.git")
        with ThreadPoolExecutor(len(urls)) as pool:
            results = list(pool.map(outcome, [base] * len(urls), [auth] * len(urls),
                                    [f"ssrf{i}" for i in range(len(urls))], urls))
    told = {url: message for url, (message, _) in zip(urls, results, strict=True)}
    assert len(set(told.values())) == 1, "\n".join(f"{u} -> {m}" for u, m in told.items())
    message = next(iter(told.values()))
    assert message.startswith("BUILD_ERROR import failed: cannot fetch from this URL"), message
    assert recorder.accepted == 0, recorder.requests
    slowest = max(seconds for _, seconds in results)
    print(f"\n{len(urls)} refused imports, slowest told in {slowest * 1000:.0f} ms")
    # All told at once, well before import_connect_timeout (the 20
    # imports share the pool and the database: a few seconds under CI load).
    assert slowest < 6, {u: round(s, 2) for u, (_, s) in zip(urls, results, strict=True)}


def test_item4_a_redirect_from_an_opened_source_is_not_followed(
    tmp_path: Path, redis_url: str, redis_conn: redis.Redis,
) -> None:
    # 127.0.0.2 stands for an admin-opened git server (PODIUM_EGRESS_ALLOW); it redirects
    # the clone to loopback, which stays refused.
    with Listener("127.0.0.1", reply=HTTP_OK) as recorder:
        redirect = (f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{recorder.port}/x.git"
                    "/info/refs?service=git-upload-pack\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n").encode()
        with Listener("127.0.0.2", reply=redirect) as opened:
            settings = api_settings(tmp_path, redis_url, egress_allow="127.0.0.2/32",
                                    import_stall_s=3, import_timeout=6)
            with ServedApp(settings) as server:
                auth = {"Authorization": f"Bearer {admin_token(server.url)}"}
                told, _ = outcome(server.url, auth, "redirected",
                                  f"http://127.0.0.2:{opened.port}/x.git")
    assert opened.accepted >= 1 and b"git-upload-pack" in b"".join(opened.requests)
    assert recorder.accepted == 0, recorder.requests
    assert told.startswith("BUILD_ERROR import failed: cannot fetch from this URL"), told


def test_item4_the_clone_connects_to_the_checked_address_not_a_second_dns_answer(
    tmp_path: Path, redis_url: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the name resolves to an opened address when checked and to something
    # else when the fetcher asks again. Here the check's answer is 127.0.0.2 (opened) and
    # the system resolver knows no such name: the clone reaching 127.0.0.2 proves git used
    # the checked address (curl's resolve pin), not an answer of its own.
    import podium.netguard as netguard

    real = netguard.resolve
    monkeypatch.setattr(netguard, "resolve", lambda host, port: (
        [netguard.ipaddress.ip_address("127.0.0.2")] if host == "rebind.invalid"
        else real(host, port)))
    with Listener("127.0.0.2", reply=HTTP_OK) as pinned:
        settings = api_settings(tmp_path, redis_url, egress_allow="127.0.0.2/32",
                                import_stall_s=3, import_timeout=6)
        with ServedApp(settings) as server:
            auth = {"Authorization": f"Bearer {admin_token(server.url)}"}
            outcome(server.url, auth, "rebound", f"http://rebind.invalid:{pinned.port}/x.git")
    assert any(b"Host: rebind.invalid" in r and b"git-upload-pack" in r
               for r in pinned.requests), pinned.requests
