"""The whole platform over HTTPS (`podium up` with PODIUM_TLS_CERT / PODIUM_TLS_KEY): a CA
and a wildcard certificate made here, and clients that trust that CA only. gradio_client
calls the demo Gradio Space (its event stream goes through the Python proxy behind nginx),
chromium opens the Space and signs in to the dashboard, whose session cookie is Secure,
and plain HTTP on PODIUM_HTTP_PORT lands on https.

Chromium is told to trust the test certificate with --ignore-certificate-errors-spki-list
(the base64 sha256 of the leaf's public key): it trusts that one key and nothing else,
needs no NSS tools or profile edits, and a launch without it is refused (checked below).
The price: chromium does not check the names itself; curl and httpx do, with the CA
(here and in tests/integration/test_proxy_tls.py)."""

from __future__ import annotations

import shutil
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from gradio_client import Client

from podium.config import Settings
from podium.names import SpaceId
from podium.services.redis_server import free_port
from podium.services.up import Started
from podium.spaces.stage import Stage
from tests.conftest import release_quota_mounts, require
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import ADMIN_PASSWORD, BUILD_TIMEOUT, CA_BUNDLE
from tests.platforms import platform_running, user_token
from tests.tls_ca import MadeCa, make_ca

DOMAIN = "podium.localhost"  # *.localhost is loopback for chromium, curl and this process
DEMO = SpaceId("admin", "hello")
STUCK_S = 600.0  # a Gradio demo answers in seconds (at load 40, in up to ~12 min)
# The platform, a build and a Gradio start, on a shared machine: more than the default 900 s.
pytestmark = pytest.mark.timeout(2400)


@dataclass
class Https:
    started: Started
    ca: MadeCa
    token: str

    @property
    def settings(self) -> Settings:
        return self.started.settings

    @property
    def base_url(self) -> str:
        return self.settings.public_base_url

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.ca))


@pytest.fixture(scope="module")
def https_up(  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory, docker_client, base_image
) -> Iterator[Https]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    require(shutil.which("nginx") is not None, "nginx is not installed")
    require(CA_BUNDLE.is_file(), f"no CA bundle at {CA_BUNDLE} for pip inside builds")
    ca = make_ca(tmp_path_factory.mktemp("ca"), DOMAIN)
    data = tmp_path_factory.mktemp("podium-https")
    settings = Settings(
        data_dir=data, redis_url="", database_url="", domain=DOMAIN,
        public_port=free_port(), http_port=free_port(), api_port=free_port(),
        tls_cert=ca.cert, tls_key=ca.key, admin_password=ADMIN_PASSWORD,
        ca_bundle=CA_BUNDLE, base_image=base_image, instance=f"e2e-tls-{uuid.uuid4().hex[:8]}",
    )
    assert settings.scheme == "https"
    with platform_running(settings, docker_client, demo=True) as started:
        up = Https(started, ca, user_token(started.settings, settings.admin_user, name="tls"))
        _wait_running(up, DEMO)
        yield up
        release_quota_mounts(data)


def _wait_running(up: Https, space_id: SpaceId, restarts: int = 3) -> None:
    """Until the demo runs. Gradio's launch gives up when its own first request takes over
    3 s ("localhost is not accessible"; its server thread then keeps the container up and
    silent), which a shared machine's load makes happen (seen at load average 40-68 on two
    cores, with the same env as over plain HTTP): such a start is retried, at most
    ``restarts`` times, on RUNTIME_ERROR or after STUCK_S of APP_STARTING."""
    import time

    deadline = time.monotonic() + 2 * BUILD_TIMEOUT
    runtime: dict = {}
    starting_since = time.monotonic()
    with httpx.Client(base_url=up.base_url, verify=up.verify(), timeout=30,
                      headers={"Authorization": f"Bearer {up.token}"}) as api:
        while time.monotonic() < deadline:
            runtime = api.get(f"/api/spaces/{space_id}/runtime").json()
            stage = runtime["stage"]
            if stage in {Stage.RUNNING, Stage.RUNNING_APP_STARTING}:  # serving
                return
            assert stage != Stage.BUILD_ERROR, runtime
            if stage != Stage.APP_STARTING:
                starting_since = time.monotonic()
            stuck = time.monotonic() - starting_since > STUCK_S
            if stage == Stage.RUNTIME_ERROR or stuck:
                assert restarts > 0, runtime
                restarts -= 1
                starting_since = time.monotonic()
                assert api.post(f"/api/spaces/{space_id}/restart").status_code < 300
            time.sleep(1)
    pytest.fail(f"{space_id} is not running after {2 * BUILD_TIMEOUT} s: {runtime}")


def test_gradio_client_calls_a_space_over_https(
    https_up: Https, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = https_up.settings.space_origin(DEMO) + "/"
    assert url.startswith(f"https://admin-hello.{DOMAIN}:")
    # The test CA is the client's whole trust store (httpx reads SSL_CERT_FILE).
    monkeypatch.setenv("SSL_CERT_FILE", str(https_up.ca.ca))
    assert Client(url, verbose=False).predict("Ada", api_name="/predict") == "Hello, Ada!"
    # What the API tells clients is the https origin.
    with httpx.Client(verify=https_up.verify(), timeout=30) as client:
        info = client.get(f"{https_up.base_url}/api/spaces/{DEMO}",
                          headers={"Authorization": f"Bearer {https_up.token}"}).json()
    assert str(info.get("url", "")).startswith(f"https://admin-hello.{DOMAIN}:"), info


def test_chromium_opens_the_space_and_the_dashboard_with_a_secure_cookie(
    https_up: Https,
) -> None:
    require(shutil.which("chromium") is not None, "Debian's chromium is not installed")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    space = https_up.settings.space_origin(DEMO) + "/"
    http_login = (f"http://{DOMAIN}:{https_up.settings.http_port}/login?next=/new")
    with sync_playwright() as pw:
        # Without the test key trusted, chromium refuses the server.
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
            browser.new_page().goto(space)
        browser.close()
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={https_up.ca.spki}"])
        try:
            page = browser.new_page()
            page.goto(space)
            page.get_by_label("Your name").first.fill("Grace")
            page.get_by_role("button", name="Submit").click()
            greeting = page.get_by_label("Greeting").first
            greeting.wait_for()
            page.wait_for_function(
                "el => el.value === 'Hello, Grace!'", arg=greeting.element_handle(),
                timeout=30_000)
            # Plain HTTP lands on the https dashboard; signing in there sets a Secure cookie.
            page.goto(http_login)
            assert page.url == f"{https_up.base_url}/login?next=/new"
            page.get_by_label("User name").fill(https_up.settings.admin_user)
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{https_up.base_url}/new")
            cookies = {c["name"]: c for c in page.context.cookies()}
            session = cookies["podium_session"]
            assert session["secure"] and session["httpOnly"], session
            assert session["domain"] == DOMAIN
        finally:
            browser.close()
