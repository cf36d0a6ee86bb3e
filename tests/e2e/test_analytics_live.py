"""Visits through the whole platform as `podium up` runs it (nginx-lua data plane, Python
proxy, API, demo Space): chromium opens the demo Space on its host and in the dashboard's
frame, the visits reach the owner's chart on the Space page; an asset or API call does not
count; and no client address is left in Redis."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from podium.analytics.visits import series
from podium.names import SpaceId
from podium.proxy.testing import settles
from podium.spaces.stage import Stage
from tests.e2e.browser import chromium
from tests.e2e.conftest import Podium

pytestmark = pytest.mark.browser

DEMO = SpaceId("admin", "hello")  # deployed by start_platform, as `podium up` does


def test_browser_visits_reach_the_owners_chart(podium_up: Podium) -> None:
    podium_up.wait_stage(DEMO, {Stage.RUNNING})
    conn = redis.Redis.from_url(podium_up.settings.redis_url)

    def visits() -> int:
        return series(conn, [DEMO.key], days=1)[-1].visits

    before = visits()
    with chromium() as browser:
        context = browser.new_context()  # type: ignore[attr-defined]
        page = context.new_page()
        page.goto(podium_up.space_host_url(DEMO))  # a top-level navigation: one visit
        page.wait_for_load_state("load")
        assert settles(lambda: visits() >= before + 1, 15), (before, visits())
        # The Gradio page's own assets and API calls are not visits.
        time.sleep(2.5)
        assert visits() == before + 1
        # An API client's request is not a visit either.
        httpx.get(podium_up.space_host_url(DEMO) + "config", timeout=30)
        time.sleep(2.5)
        assert visits() == before + 1

        page.goto(f"{podium_up.base_url}/login?next=/{DEMO}")
        page.get_by_label("User name").fill(podium_up.admin_user)
        page.get_by_label("Password").fill(podium_up.admin_password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{podium_up.base_url}/{DEMO}")
        # The dashboard's frame is a navigation of the Space too.
        assert settles(lambda: visits() >= before + 2, 30), (before, visits())
        page.reload()
        assert int(page.locator(".visits").get_attribute("data-visits-total") or 0) >= 2
        assert page.locator(".visits-day").count() == 30
        context.close()
    for key in conn.scan_iter(count=1000):
        assert b"127.0.0.1" not in key + (conn.dump(key) or b""), key
