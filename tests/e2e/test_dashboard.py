"""The dashboard in a real browser (Debian's chromium through Playwright) against the whole
platform: sign in, create a Space from a template, watch it build, use the app in its frame,
share it while private, revoke the link, delete it; and a hostile title stays text.

Screenshots of the gallery and the Space page (desktop and phone width) go to
test-artifacts/ for people to look at."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from podium.names import SpaceId
from podium.spaces.stage import Stage
from podium.store import Database, get_space, update_space
from tests.conftest import REPO_ROOT, require
from tests.e2e.conftest import BUILD_TIMEOUT, Podium

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
XSS_TITLE = "<script>alert(1)</script>"
XSS_DESCRIPTION = '<img src=x onerror="window.__xss=1;alert(2)">'


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    require(Path(CHROMIUM).exists() and shutil.which("chromium") is not None,
            "Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(browser, dialogs: list[str]) -> Iterator:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    page = context.new_page()

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def phone_shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # let the layout settle before capturing
    shot(page, name)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(DESKTOP)
    # Nothing may force sideways scrolling at phone width.
    assert width <= PHONE["width"], f"{name}: page is {width}px wide at {PHONE['width']}px"


def sign_in(page, podium: Podium) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{podium.base_url}/login?next=/new")
    page.get_by_label("User name").fill(podium.admin_user)
    page.get_by_label("Password").fill(podium.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{podium.base_url}/new")


def greeting_in_frame(page, name: str) -> str:  # type: ignore[no-untyped-def]
    frame = page.frame_locator("#app-frame")
    frame.get_by_label("Your name").first.fill(name)
    frame.get_by_role("button", name="Submit").click()
    wanted = f"Hello, {name}!"
    output = frame.locator("textarea, input[type=text]")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        values = [output.nth(i).input_value() for i in range(output.count())]
        if wanted in values:
            return wanted
        page.wait_for_timeout(250)
    raise AssertionError(f"{wanted!r} never appeared in the app; fields: {values}")


def test_create_watch_use_share_and_delete_a_space(
    podium_up: Podium, page, browser, dialogs: list[str],  # type: ignore[no-untyped-def]
) -> None:
    base = podium_up.base_url
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    space_id = SpaceId(podium_up.admin_user, name)
    sign_in(page, podium_up)

    # New Space from the gradio-hello template: the page then tells how to push.
    page.get_by_label("Space name").fill(name)
    page.locator("label.choice", has_text="Hello Gradio").click()
    assert page.locator("input[name=template][value=gradio-hello]").is_checked()
    assert page.get_by_role("radio", name="Gradio", exact=True).is_checked()
    page.get_by_role("button", name="Create Space").click()
    commands = page.locator("#push-commands")
    commands.wait_for()
    git_url = f"{base}/spaces/{space_id}.git"
    assert commands.inner_text().splitlines() == [
        f"git remote add space {git_url}", "git push space main"]
    page.get_by_role("button", name="Create a token for git").click()
    page.locator("#git-token").wait_for()
    assert page.locator("#git-token-value").input_value().startswith("pod_")

    # The Space page streams the build log while the badge follows the stage live.
    page.locator("#created-link").click()
    page.wait_for_url(f"{base}/{space_id}")
    build_log = page.locator("[data-log=build] [data-log-body] .line")
    build_log.first.wait_for(state="attached", timeout=120_000)
    page.locator('#space-status .badge[data-stage="RUNNING"]').wait_for(
        timeout=BUILD_TIMEOUT * 1000)
    assert page.locator("#space-status .badge-label").inner_text() == "Running"
    assert build_log.count() > 5
    # The frame appeared by itself and the app inside it answers.
    assert page.locator("#app-frame").is_visible()
    assert greeting_in_frame(page, "Ada") == "Hello, Ada!"
    shot(page, "space-desktop")
    phone_shot(page, "space-phone")

    # Logs tab: the push followed until the app answered, every phase (launching too) done;
    # the container's log is live.
    page.goto(f"{base}/{space_id}/logs")
    build_panel = page.locator("[data-log=build]")
    expect(build_panel).to_have_attribute("data-status", "ready", timeout=60_000)
    assert build_panel.locator("[data-phase].done").count() == build_panel.locator(
        "[data-phase]").count()
    expect(page.locator("[data-log=run]")).to_have_attribute(
        "data-status", re.compile("^(live|unavailable)$"), timeout=30_000)
    shot(page, "space-logs")

    # Gallery: the new card with its live badge, found by search.
    page.goto(f"{base}/?search={name}")
    card = page.locator(f'[data-space-id="{space_id}"]')
    assert card.locator(".card-title").inner_text() == "Hello Gradio"
    assert card.locator(".badge").get_attribute("data-stage") == Stage.RUNNING
    page.goto(f"{base}/")
    shot(page, "gallery-desktop")
    phone_shot(page, "gallery-phone")

    # Settings: make it private, then share it with a link that works until revoked.
    page.goto(f"{base}/{space_id}/settings")
    shot(page, "space-settings")
    general = page.locator("form", has=page.get_by_label("Sleep after inactivity"))
    general.get_by_text("Private", exact=False).first.click()
    general.get_by_role("button", name="Save").click()
    expect(general.locator(".form-status")).to_have_text("Saved")
    host = podium_up.space_host_url(space_id)
    stranger = browser.new_context(viewport=DESKTOP)
    try:
        shut = stranger.new_page().goto(host)
        assert shut is not None and shut.status == 404  # private: not even its existence
        # Its owner still sees it in the dashboard, framed through the API's grant.
        page.goto(f"{base}/{space_id}")
        assert page.locator("#app-frame").get_attribute("data-src") == (
            f"/api/spaces/{space_id}/open")
        assert greeting_in_frame(page, "Grace") == "Hello, Grace!"
        page.goto(f"{base}/{space_id}/settings")

        share = page.locator("form", has=page.get_by_label("Max views"))
        share.get_by_label("Max views").fill("5")
        share.get_by_role("button", name="Create link").click()
        page.locator("#new-share").wait_for()
        url = page.locator("#new-share-url").input_value()
        assert url.startswith(f"{base}/share/{space_id}/shr_")

        visitor = stranger.new_page()
        opened = visitor.goto(url)
        assert opened is not None and opened.ok
        assert visitor.url.startswith(host)
        visitor.get_by_label("Your name").first.wait_for()

        page.reload()
        row = page.locator("#share-table tbody tr").first
        assert row.locator("[data-views]").inner_text() == "1 / 5"
        row.get_by_role("button", name="Revoke").click()
        row.locator("[data-state]", has_text="revoked").wait_for()
        again = stranger.new_page().goto(url)
        assert again is not None and again.status == 403
    finally:
        stranger.close()

    # Delete, with the typed-name confirmation.
    danger = page.locator("form", has=page.get_by_label("to confirm"))
    delete = danger.get_by_role("button", name="Delete this Space")
    assert delete.is_disabled()
    danger.get_by_label("to confirm").fill(f"{space_id}-nope")
    assert delete.is_disabled()
    danger.get_by_label("to confirm").fill(str(space_id))
    delete.click()
    page.wait_for_url(f"{base}/{podium_up.admin_user}")
    assert page.locator(f'[data-space-id="{space_id}"]').count() == 0
    with podium_up.client() as api:
        assert api.get(f"/api/spaces/{space_id}").status_code == 404
    assert dialogs == []


def test_a_hostile_title_renders_as_text(
    podium_up: Podium, page, dialogs: list[str],  # type: ignore[no-untyped-def]
) -> None:
    name = f"xss-{uuid.uuid4().hex[:8]}"
    space_id = SpaceId(podium_up.admin_user, name)
    with podium_up.client() as api:
        response = api.post("/api/spaces", json={"name": name, "sdk": "gradio"})
        assert response.status_code == 201, response.text
    # The card fields normally come from README front matter on push; write them directly,
    # as this is about rendering whatever the store holds.
    db = Database(podium_up.settings)
    try:
        with db.session() as session:
            update_space(session, get_space(session, space_id), title=XSS_TITLE,
                         short_description=XSS_DESCRIPTION, emoji="<b>x</b>")
        base = podium_up.base_url
        page.goto(f"{base}/?search={name}")
        card = page.locator(f'[data-space-id="{space_id}"]')
        assert card.locator(".card-title").inner_text() == XSS_TITLE
        assert card.locator(".card-desc").inner_text() == XSS_DESCRIPTION
        page.goto(f"{base}/{space_id}")
        assert page.locator(".space-sub strong").inner_text() == XSS_TITLE
        assert page.title().startswith(f"<b>x</b> {XSS_TITLE}")
        page.wait_for_timeout(3000)  # a few status polls re-render the badge and alert
        assert page.evaluate("window.__xss") is None
        assert page.locator("script:not([src])").count() == 0
        assert dialogs == []
    finally:
        db.dispose()
        with podium_up.client() as api:
            api.delete(f"/api/spaces/{space_id}")
