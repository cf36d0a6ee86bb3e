"""Issue 10 item 2: Space code never runs on the dashboard's origin.

A hostile static Space, visited in real chromium by the signed-in admin, tries what a Space
that stole a write token did: mint one through ``/api/tokens`` (and ask ``/api/whoami``),
on the origin its page runs on and on the dashboard's. It is opened every way a browser
reaches a Space: top-level by its host URL, top-level by its path URL (which must land on
the Space's host, not run on the dashboard's origin), and inside the dashboard's app frame,
public and private (the owner's view, through a grant on the Space's host). Each visit
must see every API call refused (401, or blocked by CORS), and no token may exist
afterwards that the admin did not make. The owner still sees the private Space in the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.names import SpaceId
from podium.spaces.stage import Stage
from tests.e2e.browser import chromium
from tests.e2e.conftest import Podium

pytestmark = pytest.mark.browser

HOSTILE = SpaceId("admin", "hostile")

README = "---\ntitle: Hostile\nsdk: static\napp_file: index.html\n---\n"
# Every call reports "label=status" ("blocked" when the browser refused it, ":TOKEN" when an
# API token came back); the report goes into document.title for the test to read.
PAGE = """<!doctype html><html><head><title>pending</title></head><body>
<p id="what">hostile</p>
<script>
const DASHBOARD = "%(dashboard)s";
const mint = (name, type) => ({method: "POST", headers: {"content-type": type},
                               body: JSON.stringify({name: name, scope: "write"})});
async function call(label, url, options) {
  try {
    const r = await fetch(url, Object.assign({credentials: "include"}, options));
    const text = await r.text();
    return label + "=" + r.status + (text.includes("pod_") ? ":TOKEN" : "");
  } catch (e) { return label + "=blocked"; }
}
(async () => {
  const out = ["origin=" + window.location.origin];
  const calls = [
    ["own-whoami", "/api/whoami", {}],
    ["own-mint", "/api/tokens", mint("stolen-own", "application/json")],
    ["own-mint-text", "/api/tokens", mint("stolen-own-text", "text/plain")],
    ["dash-whoami", DASHBOARD + "/api/whoami", {}],
    ["dash-mint", DASHBOARD + "/api/tokens", mint("stolen-dash", "application/json")],
    ["dash-mint-text", DASHBOARD + "/api/tokens", mint("stolen-dash-text", "text/plain")],
  ];
  for (const [label, url, options] of calls) out.push(await call(label, url, options));
  // Framed by the dashboard: its document is someone else's.
  try { out.push("parent=" + (window.parent === window ? "none"
                              : "read:" + window.parent.location.href)); }
  catch (e) { out.push("parent=blocked"); }
  document.title = "done " + out.join(" ");
})();
</script></body></html>
"""


def _report(title: str) -> dict[str, str]:
    assert title.startswith("done "), title
    return dict(part.split("=", 1) for part in title.removeprefix("done ").split())


def _assert_walled(report: dict[str, str], podium: Podium, how: str) -> None:
    space_origin = podium.space_host_url(HOSTILE).rstrip("/")
    assert report["origin"] != podium.base_url, f"{how}: ran on the dashboard's origin {report}"
    assert report["origin"] == space_origin, f"{how}: {report}"
    for label, result in report.items():
        if label.startswith("own-"):
            # Its own origin is the Space's own server: never the API.
            assert not result.startswith("2") and "TOKEN" not in result, (how, label, report)
        elif label.startswith("dash-"):
            assert result in ("401", "blocked"), (how, label, report)
    assert report["parent"] in ("none", "blocked"), (how, report)


def _run_page(page: Any, url: str) -> dict[str, str]:
    page.goto(url)
    page.wait_for_function("document.title.startsWith('done')", timeout=30_000)
    return _report(page.title())


def _run_frame(page: Any, podium: Podium) -> dict[str, str]:
    page.goto(f"{podium.base_url}/{HOSTILE}")
    handle = page.wait_for_selector("#app-frame[src]", state="attached", timeout=60_000)
    frame = handle.content_frame()
    assert frame is not None
    try:
        frame.wait_for_function("document.title.startsWith('done')", timeout=30_000)
    except Exception as exc:  # say what the frame shows instead
        shown = frame.evaluate("document.body ? document.body.innerText : ''")[:500]
        raise AssertionError(f"frame at {frame.url} shows {shown!r}") from exc
    return _report(frame.title())


def _sign_in(page: Any, podium: Podium) -> None:
    page.goto(f"{podium.base_url}/login?next=/new")
    page.get_by_label("User name").fill(podium.admin_user)
    page.get_by_label("Password").fill(podium.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{podium.base_url}/new")


def _token_names(podium: Podium) -> set[str]:
    with podium.client() as api:
        listed = api.get("/api/tokens")
        listed.raise_for_status()
        return {t["name"] for t in listed.json()}


def test_item2_hostile_space_never_runs_on_the_dashboard_origin(
    podium_up: Podium, tmp_path: Path
) -> None:
    with podium_up.client() as api:
        made = api.post("/api/spaces", json={"name": HOSTILE.name, "sdk": "static"})
        assert made.status_code == 201, made.text
    repo = tmp_path / "hostile"
    repo.mkdir()
    (repo / "README.md").write_text(README)
    (repo / "index.html").write_text(PAGE % {"dashboard": podium_up.base_url})
    remote = podium_up.push(HOSTILE, repo, "hostile page")
    podium_up.wait_stage(HOSTILE, {Stage.RUNNING})
    before = _token_names(podium_up)

    with chromium() as browser:
        context = browser.new_context()  # type: ignore[attr-defined]
        context.set_default_timeout(30_000)
        page = context.new_page()
        _sign_in(page, podium_up)
        # Control: the dashboard's own origin does hold a working session.
        assert page.evaluate("fetch('/api/whoami').then(r => r.status)") == 200

        visits = {
            "host URL": lambda: _run_page(page, podium_up.space_host_url(HOSTILE)),
            "path URL": lambda: _run_page(page, podium_up.space_path_url(HOSTILE)),
            "path URL, deeper, with a query": lambda: _run_page(
                page, podium_up.space_path_url(HOSTILE) + "index.html?x=1"),
            "dashboard frame": lambda: _run_frame(page, podium_up),
        }
        for how, visit in visits.items():
            _assert_walled(visit(), podium_up, how)

        with podium_up.client() as api:
            r = api.post(f"/api/spaces/{HOSTILE}/settings", json={"private": True})
            assert r.status_code == 200, r.text
        # The owner's view of the private Space: a grant on the Space's host, in the frame.
        _assert_walled(_run_frame(page, podium_up), podium_up, "private, dashboard frame")
        # A stranger sees nothing at either URL.
        stranger = browser.new_context().new_page()  # type: ignore[attr-defined]
        for url in (podium_up.space_host_url(HOSTILE), podium_up.space_path_url(HOSTILE)):
            shut = stranger.goto(url)
            assert shut is not None and shut.status == 404, (url, shut and shut.status)
            assert shut.url.startswith(podium_up.space_host_url(HOSTILE)), shut.url
        context.close()

    assert _token_names(podium_up) == before
    # What the platform advertises is the Space's own host, never a URL on the dashboard's
    # origin: the API's url, and the push output.
    assert made.json()["url"] == podium_up.space_host_url(HOSTILE), made.json()
    assert f"Live URL:   {podium_up.space_host_url(HOSTILE)}" in remote, remote
    assert f"{podium_up.base_url}/spaces/{HOSTILE}/" not in remote, remote
