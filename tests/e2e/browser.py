"""Debian's chromium driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import require

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium dials Google services, which this
# machine's closed network refuses many times a second.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[object]:
    require(shutil.which("chromium") is not None, "Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def watch(page: Any) -> list[str]:
    """Console messages, failed or refused requests and websockets of ``page``, as seen."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(f"console {m.type}: {m.text}"))
    page.on("requestfailed", lambda r: seen.append(f"failed {r.method} {r.url}"))
    page.on("response", lambda r: r.status >= 400 and seen.append(
        f"{r.status} {r.request.method} {r.url}"))
    page.on("websocket", lambda w: seen.append(f"websocket {w.url}"))
    return seen


# Chromium aborts loads in flight whenever an address appears on the host (IPv6 link-local
# on every veth a container start adds): a load that failed only so is tried again.
NETWORK_CHANGED = "ERR_NETWORK_CHANGED"
ATTEMPTS = 3


def streamlit_hello_reacts(browser: Any, url: str, host_url: str) -> None:
    """templates/streamlit-hello opened at ``url`` (its host or its path URL) in a new page:
    it runs on the Space's own host only (a path URL redirects there), draws from messages
    sent over its websocket to that host, and typing reruns the script on the server."""
    in_new_page(browser, url, lambda page, seen: _hello_reacts(page, url, host_url, seen))


def streamlit_shows(browser: Any, url: str, text: str) -> None:
    """A Streamlit app at ``url`` draws ``text`` (sent over its websocket) in a new page."""

    def check(page: Any, seen: list[str]) -> None:
        page.goto(url)
        page.get_by_text(text).first.wait_for(timeout=60_000)

    in_new_page(browser, url, check)


def in_new_page(browser: Any, url: str, check: Callable[[Any, list[str]], None]) -> None:
    """``check`` run on a new page; a load that chromium aborted only because the host's
    network changed is tried again, and a failure reports what the page saw."""
    for attempt in range(1, ATTEMPTS + 1):
        page = browser.new_page()
        # What the page saw, reported if a step times out.
        seen = watch(page)
        try:
            check(page, seen)
        except Exception as exc:
            if attempt < ATTEMPTS and any(NETWORK_CHANGED in line for line in seen):
                page.close()
                continue
            body = page.locator("body").inner_text(timeout=5_000)[:1000]
            raise AssertionError(
                f"{url}: {exc}\npage {page.url}: {body!r}\n" + "\n".join(seen[-40:])
            ) from exc
        page.close()
        return


def _hello_reacts(page: Any, url: str, host_url: str, seen: list[str]) -> None:
    page.goto(url)
    assert page.url.startswith(host_url), page.url
    # Rendered by the Streamlit front end from messages sent over its websocket.
    page.get_by_text("Hello Streamlit").first.wait_for(timeout=60_000)
    page.get_by_text("Hello, world.").first.wait_for(timeout=30_000)
    # And back: typing reruns the script on the server, which sends the new text.
    box = page.get_by_label("Your name")
    box.fill("Grace")
    box.press("Enter")
    page.get_by_text("Hello, Grace.").first.wait_for(timeout=30_000)
    host_ws = "ws" + host_url.removeprefix("http")
    assert any(s.startswith(f"websocket {host_ws}") for s in seen), seen
