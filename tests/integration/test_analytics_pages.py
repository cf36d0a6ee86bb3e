"""Visit counts and likes where people see them, through the real API app under uvicorn:
the JSON series (owner and admins only), the server-drawn chart on the Space page and the
owner's profile fetched with a real HTTP client, and in Debian's chromium the chart drawn
and the like button toggling. Visits are written by the same recorder the nginx plane's
log reader uses (the planes themselves: tests/integration/test_visits.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from podium.analytics.visits import Visit, VisitRecorder
from podium.children import free_port
from podium.proxy.testing import ServerThread
from podium.web import create_app
from tests.conftest import REPO_ROOT
from tests.e2e.browser import chromium
from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, api_settings
from tests.integration.test_api_git import token_for

pytestmark = pytest.mark.redis
DAY = 24 * 3600


@dataclass
class Site:
    url: str
    conn: redis.Redis


@pytest.fixture
def site(tmp_path: Path, redis_url: str, redis_conn: redis.Redis) -> Iterator[Site]:
    # The browser signs in at the public origin the API checks Origin against.
    port = free_port()
    settings = api_settings(tmp_path, redis_url, domain="localhost", public_port=port)
    with ServerThread(create_app(settings), port=port, timeout_graceful_shutdown=3):
        url = f"http://localhost:{port}"
        admin = token_for(url, "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as http:
            for user in ("alice", "bob"):
                assert http.post("/api/users", json={"username": user,
                                                     "password": PASSWORD}).status_code == 201
        with signed_in(url, "alice") as http:
            for name, private in (("demo", False), ("hidden", True)):
                made = http.post("/api/spaces", json={"name": name, "sdk": "static",
                                                      "private": private})
                assert made.status_code == 201, made.text
        yield Site(url, redis_conn)


@contextmanager
def signed_in(url: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        assert client.post("/api/login", json={"username": username,
                                               "password": PASSWORD}).status_code == 200
        yield client


def seed(conn: redis.Redis) -> None:
    """Today: 3 visits by 2 visitors to alice/demo, 1 to alice/hidden by one of them;
    five days ago: 4 visits by 4 visitors; 40 days ago (out of the window): 7."""
    recorder = VisitRecorder(conn)
    now = time.time()
    a, b = ("198.51.100.1", "agent-a"), ("198.51.100.2", "agent-b")
    recorder.record([Visit("alice/demo", *a), Visit("alice/demo", *a),
                     Visit("alice/demo", *b), Visit("alice/hidden", *a)], now=now)
    recorder.record([Visit("alice/demo", f"203.0.113.{i}", "x") for i in range(4)],
                    now=now - 5 * DAY)
    recorder.record([Visit("alice/demo", "203.0.113.9", "x")] * 7, now=now - 40 * DAY)


def test_series_and_charts_are_the_owners(site: Site) -> None:
    seed(site.conn)
    with signed_in(site.url, "alice") as http:
        series = http.get("/api/spaces/alice/demo/analytics").json()
        assert len(series["days"]) == 30 and series["total_visits"] == 7
        assert [(d["visits"], d["visitors"]) for d in series["days"][-6:]] == [
            (4, 4), (0, 0), (0, 0), (0, 0), (0, 0), (3, 2)]
        owner = http.get("/api/users/alice/analytics").json()
        # Both Spaces: visits add up, visitor a counted once across them.
        assert owner["total_visits"] == 8 and owner["days"][-1]["visitors"] == 2
        page = http.get("/alice/demo").text
        assert page.count('<g class="visits-day">') == 30
        assert re.search(r"<title>\d{4}-\d\d-\d\d: 3 visits, 2 visitors</title>", page)
        assert "<strong>7</strong> visits in the last 30 days" in page
        profile = http.get("/alice").text
        assert "<strong>8</strong> visits in the last 30 days" in profile
    with signed_in(site.url, "bob") as http:
        # Another user sees the Space and its likes, not its visits.
        assert http.get("/api/spaces/alice/demo/analytics").status_code == 403
        assert http.get("/api/spaces/alice/hidden/analytics").status_code == 404
        assert http.get("/api/users/alice/analytics").status_code == 403
        assert "visits-chart" not in http.get("/alice/demo").text
        assert "visits-chart" not in http.get("/alice").text
    assert httpx.get(f"{site.url}/api/spaces/alice/demo/analytics").status_code == 403
    admin = token_for(site.url, "admin", ADMIN_PASSWORD)
    assert httpx.get(f"{site.url}/api/spaces/alice/demo/analytics",
                     headers={"Authorization": f"Bearer {admin}"}).json()["total_visits"] == 7


def sign_in(page, url: str, username: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/login?next=/alice")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/alice")


@pytest.mark.browser
def test_chart_and_like_button_in_chromium(site: Site) -> None:
    from playwright.sync_api import expect

    seed(site.conn)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, site.url, "bob")
        page.goto(f"{site.url}/alice/demo")
        like = page.locator("button[data-like]")
        expect(like).to_have_attribute("aria-pressed", "false")
        expect(like.locator("[data-like-count]")).to_have_text("0")
        like.click()
        expect(like).to_have_attribute("aria-pressed", "true")
        expect(like.locator("[data-like-count]")).to_have_text("1")
        page.reload()
        expect(page.locator("button[data-like]")).to_have_attribute("aria-pressed", "true")
        page.goto(f"{site.url}/")
        card = page.locator('[data-space-id="alice/demo"] .card-likes')
        expect(card).to_contain_text("1")
        page.goto(f"{site.url}/alice/demo")
        page.locator("button[data-like]").click()
        expect(page.locator("[data-like-count]")).to_have_text("0")
        expect(page.locator(".visits-chart")).to_have_count(0)  # not bob's Space
        context.close()

        context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, site.url, "alice")
        page.goto(f"{site.url}/alice/demo")
        chart = page.locator(".visits-chart")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50
        # The tallest bar (5 days ago: 4 visits) fills the chart; today's is 3/4 of it.
        heights = page.eval_on_selector_all(
            ".visits-day rect:first-of-type", "rs => rs.map(r => r.getBBox().height)")
        assert len(heights) == 30 and max(heights) == pytest.approx(60)
        assert heights[-1] == pytest.approx(45)
        (REPO_ROOT / "test-artifacts").mkdir(exist_ok=True)
        chart.screenshot(path=str(REPO_ROOT / "test-artifacts" / "visits-chart.png"))
        page.goto(f"{site.url}/alice")
        expect(page.locator(".visits-chart")).to_be_visible()
        context.close()
    assert errors == [], errors
