"""Issue 13 item 5 end to end: pages served by Podium make the visitor's browser call no host
but Podium's own. A Gradio Space opened by its host, a Streamlit Space, the dashboard's Space
page with its app frame, and the dashboard's <gradio-app> embed snippet pasted into a page
are loaded in chromium while every request of the browser context is recorded: pages,
frames, workers, websockets, and the ones that failed or were refused. Requests to any
other host are aborted before they leave the machine (and recorded): there must be none.

Before the fix the Gradio page asked fonts.googleapis.com and huggingface.co/api/spaces/...
(the Hub's Space header, drawn because the page config named SPACE_ID), and the embed
snippet loaded gradio.js from Gradio's CDN."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from podium.names import SpaceId
from podium.spaces.stage import Stage
from tests.e2e.browser import chromium
from tests.e2e.conftest import Podium

pytestmark = pytest.mark.browser

GRADIO = SpaceId("admin", "hello")  # the demo Space start_platform deploys, as `podium up`
STREAMLIT = SpaceId("admin", "st-local")
NETWORK_SCHEMES = {"http", "https", "ws", "wss"}
SETTLE_MS = 4_000  # late requests (a header drawn after the app loads) get this long


class Recorder:
    """Every network URL the browser context asked for, and the ones outside Podium."""

    def __init__(self, podium: Podium) -> None:
        self.port = podium.settings.public_port
        self.domain = podium.settings.domain
        self.dashboard = urlsplit(podium.base_url).hostname
        self.embedder = ""  # the origin of the page the snippet is pasted into
        self.seen: list[str] = []

    def inside(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in NETWORK_SCHEMES:
            return True  # data:, blob:, about: never reach a host
        if self.embedder and url.startswith(self.embedder + "/"):
            return True
        host = parts.hostname or ""
        on_podium = host in (self.dashboard, self.domain) or host.endswith("." + self.domain)
        return on_podium and parts.port == self.port

    def note(self, kind: str, url: str) -> None:
        self.seen.append(f"{kind} {url}")

    def outside(self) -> list[str]:
        return sorted({s for s in self.seen if not self.inside(s.split(" ", 1)[1])})

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Fail naming every outside URL asked for by the end of stage ``name``, also when
        the page did not work (a refused outside request may be why)."""
        try:
            yield
        except Exception as exc:
            raise AssertionError(f"{name}: {exc}\noutside URLs so far:\n"
                                 + "\n".join(self.outside())) from exc
        assert self.outside() == [], f"after {name}:\n" + "\n".join(self.outside())

    def attach(self, context: Any) -> None:
        context.on("request", lambda r: self.note("request", r.url))
        context.on("requestfailed", lambda r: self.note("failed", r.url))
        context.on("serviceworker", lambda w: self.note("serviceworker", w.url))
        context.on("page", self._page)

        def guard(route: Any) -> None:
            url = route.request.url
            self.note("routed", url)
            if self.inside(url):
                route.fallback()
            else:  # recorded above; never let it leave this machine
                route.abort("blockedbyclient")

        context.route("**/*", guard)

    def _page(self, page: Any) -> None:
        page.on("websocket", lambda w: self.note("websocket", w.url))
        page.on("worker", lambda w: self.note("worker", w.url))


@contextmanager
def embedding_page(snippet: str) -> Iterator[str]:
    """Any web page with the snippet pasted in: a loopback server of the test's own."""
    body = f"<!doctype html><title>embed</title><body>{snippet}</body>".encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(SETTLE_MS)


def _use_gradio(page: Any) -> None:
    page.get_by_text("Hello Gradio").first.wait_for(timeout=60_000)
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_label("Greeting")).to_have_value("Hello, Ada!", timeout=30_000)


def test_gradio_streamlit_dashboard_and_embed_call_no_outside_host(podium_up: Podium) -> None:
    with podium_up.client() as api:
        created = api.post("/api/spaces", json={
            "name": STREAMLIT.name, "sdk": "streamlit", "template": "streamlit-hello",
        })
        assert created.status_code == 201, created.text
    podium_up.wait_stage(GRADIO, {Stage.RUNNING})
    podium_up.wait_stage(STREAMLIT, {Stage.RUNNING})
    recorder = Recorder(podium_up)

    with chromium() as browser:
        context = browser.new_context()  # type: ignore[attr-defined]
        recorder.attach(context)
        page = context.new_page()

        with recorder.stage("the Gradio Space's page"):  # top-level, used once
            page.goto(podium_up.space_host_url(GRADIO))
            _use_gradio(page)
            _settle(page)

        with recorder.stage("the Streamlit Space's page"):  # rendered over its websocket
            page.goto(podium_up.space_host_url(STREAMLIT))
            page.get_by_text("Hello Streamlit").first.wait_for(timeout=60_000)
            page.get_by_text("Hello, world.").first.wait_for(timeout=30_000)
            _settle(page)

        with recorder.stage("the dashboard's Space page"):  # the app in its frame
            page.goto(f"{podium_up.base_url}/{GRADIO}")
            frame = page.frame_locator("#app-frame")
            frame.get_by_text("Hello Gradio").first.wait_for(timeout=60_000)
            page.get_by_text("Embed this Space").click()
            snippet = page.locator("#embed-gradio").text_content() or ""
            assert f'<gradio-app src="{podium_up.space_host_url(GRADIO)}">' in snippet, snippet
            _settle(page)

        # The snippet pasted into a page of another origin, served from loopback (a page
        # Playwright made up would count as a public address, which chromium keeps from
        # loopback hosts).
        with recorder.stage("the embed snippet"), embedding_page(snippet) as url:
            recorder.embedder = url.rstrip("/")
            page.goto(url)
            _use_gradio(page.locator("gradio-app"))
            _settle(page)
        context.close()

    assert any(s.startswith("websocket ") for s in recorder.seen), recorder.seen
    assert recorder.outside() == [], "\n".join(recorder.outside())
