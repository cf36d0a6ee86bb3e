"""HTTPS at the nginx-lua data plane (`podium proxy` with PODIUM_TLS_CERT / PODIUM_TLS_KEY)
against real upstreams, with a CA and a wildcard certificate this test makes and clients
that trust that CA only: curl, httpx, and a websocket client. Plain HTTP on
PODIUM_HTTP_PORT is a 308 to the same host and path on https; a wrong certificate/key pair
stops `podium proxy` at start with the variable named. The whole platform over HTTPS
(gradio_client, chromium, the dashboard's Secure cookie) is tests/e2e/test_https.py."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from podium.children import free_port
from podium.names import SpaceId
from podium.proxy.plane.nginx import lua_modules
from podium.proxy.testing import ServerThread, localhost_resolver, settles, upstream_app
from podium.routes import Route, RouteTable
from podium.spaces.stage import Sdk, Stage
from tests.conftest import require
from tests.integration.test_proxy_nginx_lua import running_plane
from tests.tls_ca import MadeCa, make_ca

pytestmark = pytest.mark.redis

# Browsers and curl send every *.localhost name to loopback; this process learns the same
# rule (localhost_resolver), so certificates are checked against the real host names.
DOMAIN = "podium.localhost"
SPACE = SpaceId("alice", "demo")
HOST = SPACE.hostname(DOMAIN)
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> MadeCa:
    return make_ca(tmp_path_factory.mktemp("ca"), DOMAIN)


@pytest.fixture(scope="module")
def tls_plane(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, ca: MadeCa,
) -> Iterator[tuple[int, int]]:
    """`podium proxy` (nginx-lua) with TLS on its public port and a redirecting plain
    port; yields both."""
    require(shutil.which("nginx") is not None, "nginx is not installed (nginx-light)")
    require(lua_modules("nginx") is not None, "nginx's Lua module is not installed")
    http_port = free_port()
    env = {"PODIUM_DOMAIN": DOMAIN, "PODIUM_TLS_CERT": str(ca.cert),
           "PODIUM_TLS_KEY": str(ca.key), "PODIUM_HTTP_PORT": str(http_port),
           "PODIUM_HSTS_MAX_AGE": "600"}
    with localhost_resolver(), running_plane(
            redis_url, tmp_path_factory.mktemp("tls-plane"), "nginx-lua", env=env) as (port, _):
        yield port, http_port


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerThread]:
    with ServerThread(upstream_app()) as server:
        yield server


@pytest.fixture
def served(redis_url: str, upstream: ServerThread) -> Iterator[RouteTable]:
    """The test Space, public and running: nginx serves its plain requests itself."""
    table = RouteTable(redis.Redis.from_url(redis_url))
    table.put(Route.for_space(SPACE, upstream=upstream.url, sdk=Sdk.GRADIO,
                              stage=Stage.RUNNING))
    assert table.wait_applied(timeout=10)
    yield table
    table.remove(SPACE.key)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require(shutil.which("curl") is not None, "curl is not installed")
    env = {k: v for k, v in os.environ.items()
           if k not in {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"}}
    return subprocess.run(["curl", "-sS", "--noproxy", "*", *args], capture_output=True,
                          text=True, timeout=30, check=False, env=env)


def test_https_serves_a_space_to_clients_that_trust_the_ca(
    tls_plane: tuple[int, int], ca: MadeCa, served: RouteTable,
) -> None:
    port, _ = tls_plane
    url = f"https://{HOST}:{port}/echo?x=1"
    resolve = f"{HOST}:{port}:127.0.0.1"
    ok = curl("--cacert", str(ca.ca), "--resolve", resolve, "-D", "-", url)
    assert ok.returncode == 0, ok.stderr
    head, _, body = ok.stdout.partition("\n\n")  # text mode: CRLF read as \n
    assert head.startswith("HTTP/1.1 200"), head
    assert "strict-transport-security: max-age=600; includesubdomains" in head.lower()
    # The Space behind sees plain HTTP and is told the public scheme was https.
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"
    # A client trusting only the machine's store (not the test CA) refuses the server:
    # the certificate is really checked, and really the test's.
    refused = curl("--cacert", SYSTEM_BUNDLE, "--resolve", resolve, url)
    assert refused.returncode == 60, refused  # CURLE_PEER_FAILED_VERIFICATION
    # httpx (what gradio_client and huggingface_hub use) with the CA as its trust store.
    with localhost_resolver():
        resp = httpx.get(url, verify=ssl.create_default_context(cafile=str(ca.ca)))
    assert resp.status_code == 200 and resp.json()["query"] == "x=1"


def test_plain_http_redirects_to_the_same_host_and_path_on_https(
    tls_plane: tuple[int, int], ca: MadeCa,
) -> None:
    port, http_port = tls_plane
    for method in ("GET", "POST"):
        out = curl("-X", method, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                   "--resolve", f"{HOST}:{http_port}:127.0.0.1",
                   f"http://{HOST}:{http_port}/a/b%20c?d=1&e=2")
        assert out.stdout == f"308 https://{HOST}:{port}/a/b%20c?d=1&e=2", out
    # The dashboard's host too; following the redirect lands on https (the Python proxy
    # answers there: here no API runs behind it, so any answer but a TLS error will do).
    out = curl("-o", "/dev/null", "-w", "%{http_code} %{url_effective}", "-L",
               "--cacert", str(ca.ca), "--resolve", f"{DOMAIN}:{http_port}:127.0.0.1",
               "--resolve", f"{DOMAIN}:{port}:127.0.0.1", f"http://{DOMAIN}:{http_port}/x")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == f"https://{DOMAIN}:{port}/x"


def test_websockets_and_event_streams_work_over_tls(
    tls_plane: tuple[int, int], ca: MadeCa, served: RouteTable,
) -> None:
    port, _ = tls_plane
    context = ssl.create_default_context(cafile=str(ca.ca))

    async def talk() -> tuple[str, dict]:
        async with connect(f"wss://{HOST}:{port}/ws", ssl=context, proxy=None) as ws:
            await ws.send("hello over tls")
            answer = str(await ws.recv())
            await ws.send("headers")
            return answer, json.loads(str(await ws.recv()))

    with localhost_resolver():
        answer, headers = asyncio.run(talk())
        assert answer == "hello over tls"
        assert headers["x-forwarded-proto"] == "https"
        with httpx.stream("GET", f"https://{HOST}:{port}/sse?n=3&interval=0.2",
                          headers={"accept": "text/event-stream"}, verify=context,
                          timeout=15) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = [line for line in stream.iter_lines() if line.startswith("id: ")]
    assert events == ["id: 0", "id: 1", "id: 2"]
    assert settles(lambda: served.open_streams(SPACE.key) == 0)


@pytest.mark.parametrize(("change", "setting", "words"), [
    ({"PODIUM_TLS_KEY": "other_key"}, "PODIUM_TLS_KEY", "is not the key of the certificate"),
    ({"PODIUM_DOMAIN": "elsewhere.localhost"}, "PODIUM_TLS_CERT", "does not name"),
    ({"PODIUM_PROXY_DATA_PLANE": "python"}, "PODIUM_TLS_CERT",
     "the python data plane does not serve HTTPS"),
])
def test_a_bad_tls_setup_stops_the_proxy_at_start_with_the_variable_named(
    ca: MadeCa, tmp_path: Path, change: dict[str, str], setting: str, words: str,
) -> None:
    env = {**os.environ, "PODIUM_DATA_DIR": str(tmp_path), "PODIUM_DOMAIN": DOMAIN,
           "PODIUM_PUBLIC_PORT": str(free_port()), "PODIUM_REDIS_URL": "redis://127.0.0.1:1",
           "PODIUM_TLS_CERT": str(ca.cert), "PODIUM_TLS_KEY": str(ca.key),
           "COLUMNS": "300"}
    env.update({k: str(getattr(ca, v)) if v == "other_key" else v for k, v in change.items()})
    proc = subprocess.run([sys.executable, "-m", "podium", "proxy"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"error: {setting}: " in proc.stderr and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
