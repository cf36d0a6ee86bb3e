"""Dashboard pages through the real API app: SQLite in tmp_path, a real Redis, real git for
the Files view. Sessions come from the API's own session store."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from podium.api.auth import SESSION_COOKIE
from podium.config import Settings
from podium.controller.platform import Platform
from podium.gitserver.repo import init_from_template
from podium.names import SpaceId
from podium.spaces.stage import Stage
from podium.store import (
    create_share_link,
    create_space,
    create_token,
    create_user,
    get_space,
    get_user,
    set_secret,
    set_stage,
    update_space,
)
from podium.store.models import Space
from podium.web import create_api

XSS_TITLE = "<script>alert(1)</script>"
XSS_DESC = '<img src=x onerror="alert(2)">'


@dataclass
class Dash:
    client: TestClient
    platform: Platform
    settings: Settings

    def user(self, username: str, *, admin: bool = False) -> None:
        with self.platform.db.session() as session:
            create_user(session, username, f"{username}-password", is_admin=admin)

    def sign_in(self, username: str) -> None:
        with self.platform.db.session() as session:
            user_id = get_user(session, username).id
        self.client.cookies.set(SESSION_COOKIE, self.client.app.state.sessions.issue(user_id))

    def sign_out(self) -> None:
        self.client.cookies.clear()

    def space(self, full: str, *, sdk: str = "gradio", stage: Stage = Stage.RUNNING,
              **fields: Any) -> SpaceId:
        space_id = SpaceId.parse(full)
        with self.platform.db.session() as session:
            space = create_space(session, space_id, sdk=sdk, **fields)
            set_stage(session, space, stage)
        return space_id

    def page(self, path: str, status: int = 200) -> str:
        response = self.client.get(path, follow_redirects=False)
        assert response.status_code == status, (path, response.status_code, response.text[:500])
        return response.text


@pytest.fixture
def dash(settings: Settings, redis_url: str) -> Iterator[Dash]:
    s = settings.model_copy(update={"redis_url": redis_url})
    platform = Platform(s)
    with TestClient(create_api(s, platform)) as client:
        yield Dash(client, platform, s)
    platform.close()


def cards(page: str) -> list[str]:
    return re.findall(r'<article class="card[^"]*" data-space-id="([^"]+)"', page)


def test_gallery_shows_cards_pinned_first_with_gradient_status_and_sdk(dash: Dash) -> None:
    dash.user("alice")
    dash.space("alice/plain", title="Plain one", short_description="just a demo")
    dash.space("alice/starred", title="Starred", emoji="⭐", color_from="green",
               color_to="blue", pinned=True, stage=Stage.BUILDING, sdk="streamlit")
    page = dash.page("/")
    assert cards(page) == ["alice/starred", "alice/plain"]
    assert "grad from-green to-blue" in page
    assert "just a demo" in page and "⭐" in page
    assert "Building" in page and "Running" in page and "Streamlit" in page
    assert re.search(r"<strong>2</strong> Spaces", page)


def test_gallery_filters_by_sdk_status_and_search(dash: Dash) -> None:
    dash.space("bob/chat", title="Chat bot", sdk="gradio")
    dash.space("bob/plots", title="Plots", sdk="streamlit", short_description="charts")
    dash.space("bob/broken", title="Broken", sdk="gradio", stage=Stage.BUILD_ERROR)
    assert cards(dash.page("/?sdk=streamlit")) == ["bob/plots"]
    assert sorted(cards(dash.page("/?sdk=gradio"))) == ["bob/broken", "bob/chat"]
    assert cards(dash.page("/?stage=BUILD_ERROR")) == ["bob/broken"]
    assert cards(dash.page("/?search=chart")) == ["bob/plots"]
    assert cards(dash.page("/?search=chat&sdk=streamlit")) == []
    # Unknown filter values are ignored rather than failing the page.
    assert len(cards(dash.page("/?sdk=nope&stage=NOPE"))) == 3


def test_a_thousand_spaces_render_one_page_with_a_constant_number_of_queries(dash: Dash) -> None:
    dash.user("crowd")
    with dash.platform.db.session() as session:
        session.add_all(
            Space(owner="crowd", name=f"s{i:04d}", key=f"crowd/s{i:04d}",
                  subdomain=f"crowd-s{i:04d}", sdk="gradio", stage=Stage.RUNNING,
                  title=f"Space {i}")
            for i in range(1000)
        )
    dash.sign_in("crowd")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(dash.platform.db.engine, "before_cursor_execute", count)
    try:
        first = dash.page("/")
        first_queries = len(statements)
        statements.clear()
        last = dash.page("/?page=42")
        last_queries = len(statements)
    finally:
        event.remove(dash.platform.db.engine, "before_cursor_execute", count)
    assert len(cards(first)) == 24
    assert len(cards(last)) == 1000 - 41 * 24
    assert re.search(r"<strong>1000</strong> Spaces · page 1 of 42", first)
    assert not set(cards(first)) & set(cards(last))
    # The session's user, the count and one page: nothing per card.
    assert first_queries == last_queries <= 4, statements


def test_paging_links_keep_the_filters(dash: Dash) -> None:
    with dash.platform.db.session() as session:
        for i in range(30):
            create_space(session, SpaceId("pager", f"p{i}"), sdk="streamlit")
    page = dash.page("/?sdk=streamlit")
    assert 'href="/?sdk=streamlit&amp;page=2"' in page
    assert len(cards(dash.page("/?sdk=streamlit&page=2"))) == 6


def test_user_text_is_escaped_everywhere(dash: Dash) -> None:
    space_id = dash.space("mallory/xss", title=XSS_TITLE, short_description=XSS_DESC,
                          emoji="<b>", color_from='red" onclick="x', stage=Stage.BUILD_ERROR)
    with dash.platform.db.session() as session:
        set_stage(session, get_space(session, space_id), Stage.BUILD_ERROR,
                  "<script>alert(3)</script> failed")
    for path in ("/", "/mallory", "/mallory/xss", "/mallory/xss/logs", "/mallory/xss/tree"):
        page = dash.page(path)
        for raw in (XSS_TITLE, XSS_DESC, "<script>alert(3)", "<b>", 'onclick="x'):
            assert raw not in page, (path, raw)
    page = dash.page("/mallory/xss")
    assert html.escape(XSS_TITLE, quote=False) in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt; failed" in page
    # The unknown colour fell back to the palette instead of reaching the markup.
    assert "from-indigo" in page


def test_space_page_has_open_graph_and_twitter_tags_and_the_app_frame(dash: Dash) -> None:
    dash.space("carol/greeter", title="Greeter", emoji="👋", short_description="Say hello")
    page = dash.page("/carol/greeter")
    base = dash.settings.public_base_url
    assert '<meta property="og:title" content="👋 Greeter">' in page
    assert '<meta property="og:description" content="Say hello">' in page
    assert f'<meta property="og:url" content="{base}/carol/greeter">' in page
    assert '<meta name="twitter:card" content="summary">' in page
    assert '<meta name="twitter:title" content="👋 Greeter">' in page
    host = f"http://carol-greeter.{dash.settings.domain}:{dash.settings.public_port}/"
    assert f'src="{host}"' in page  # RUNNING: the iframe loads at once
    assert f"&lt;gradio-app src=&#34;{host}&#34;&gt;" in page
    assert "<gradio-app" not in page and "<iframe\n" not in page
    # The web component comes from the Space's own Gradio server, never a CDN (issue 13).
    assert f"src=&#34;{host}assets/gradio.js&#34;" in page
    assert "amazonaws" not in page and "cdn" not in page.lower()


def test_a_space_that_is_not_running_waits_instead_of_framing(dash: Dash) -> None:
    dash.space("carol/slow", stage=Stage.BUILDING)
    page = dash.page("/carol/slow")
    assert re.search(r'<iframe id="app-frame"[^>]*\shidden\s', page)
    assert 'data-src="http://carol-slow.' in page


def test_private_spaces_are_hidden_from_everyone_but_owner_and_admins(dash: Dash) -> None:
    dash.user("owner")
    dash.user("other")
    dash.user("root", admin=True)
    dash.space("owner/secret-app", private=True, title="Hidden thing")
    dash.space("owner/open-app", title="Open thing")
    for who in (None, "other"):
        dash.sign_out()
        if who:
            dash.sign_in(who)
        assert cards(dash.page("/")) == ["owner/open-app"]
        assert cards(dash.page("/owner")) == ["owner/open-app"]
        dash.page("/owner/secret-app", 404)
        assert "Hidden thing" not in dash.page("/owner/secret-app/tree", 404)
    for who in ("owner", "root"):
        dash.sign_in(who)
        assert sorted(cards(dash.page("/"))) == ["owner/open-app", "owner/secret-app"]
        page = dash.page("/owner/secret-app")
        # Private apps are framed through the API's grant redirect, never directly.
        assert 'data-src="/api/spaces/owner/secret-app/open"' in page


def test_settings_tab_is_for_the_owner_and_never_shows_secret_values(dash: Dash) -> None:
    dash.user("dana")
    dash.user("eve")
    space_id = dash.space("dana/tool")
    with dash.platform.db.session() as session:
        space = get_space(session, space_id)
        set_secret(session, dash.platform.cipher, space, "OPENAI_KEY", "sk-very-secret-value")
        create_share_link(session, space, created_by="dana", max_views=3)
    dash.sign_in("eve")
    assert "Settings" not in re.sub(r"<title>.*?</title>", "", dash.page("/dana/tool"))
    dash.page("/dana/tool/settings", 404)
    dash.sign_in("dana")
    page = dash.page("/dana/tool/settings")
    assert "OPENAI_KEY" in page
    assert "sk-very-secret-value" not in page
    assert 'data-api="DELETE /api/spaces/dana/tool/share-links/' in page
    assert "0 / 3" in page
    assert 'data-confirm-name="dana/tool"' in page


def test_pages_that_need_a_user_redirect_to_sign_in(dash: Dash) -> None:
    for path in ("/new", "/settings/tokens"):
        response = dash.client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"
    login = dash.page("/login?next=//evil.example")
    assert 'data-then="go:/"' in login
    assert 'data-api="POST /api/login"' in login


def test_new_space_offers_the_templates_and_import(dash: Dash) -> None:
    dash.user("frank")
    dash.sign_in("frank")
    page = dash.page("/new")
    assert 'name="template" value="gradio-hello" data-sdk="gradio"' in page
    assert 'name="from_url"' in page
    assert 'data-api="POST /api/spaces"' in page
    assert 'value="frank"' in page and "readonly" in page


def test_token_page_lists_names_and_prefixes_only(dash: Dash) -> None:
    dash.user("gina")
    with dash.platform.db.session() as session:
        plaintext, _ = create_token(session, get_user(session, "gina"), "<i>laptop</i>", "read")
    dash.sign_in("gina")
    page = dash.page("/settings/tokens")
    assert "&lt;i&gt;laptop&lt;/i&gt;" in page
    assert plaintext not in page
    assert plaintext[:8] in page


def test_files_tab_lists_the_tree_and_escapes_file_contents(dash: Dash, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text("---\nsdk: gradio\ntitle: Files\n---\n")
    (source / "app.py").write_text("print('<script>alert(4)</script>')\n")
    (source / "data.bin").write_bytes(b"\x00\x01\x02binary")
    space_id = dash.space("hank/files")
    commit = init_from_template(dash.settings, space_id, source, author="hank")
    with dash.platform.db.session() as session:
        update_space(session, get_space(session, space_id), head_commit=commit,
                     deployed_commit=commit)
    tree = dash.page("/hank/files/tree")
    for name in ("README.md", "app.py", "data.bin"):
        assert f'href="/hank/files/blob/{name}"' in tree
    assert commit[:12] in tree
    code = dash.page("/hank/files/blob/app.py")
    assert "<script>alert(4)" not in code
    assert "print(&#39;&lt;script&gt;alert(4)&lt;/script&gt;&#39;)" in code
    assert "Binary file" in dash.page("/hank/files/blob/data.bin")
    dash.page("/hank/files/blob/missing.txt", 404)


def test_pages_carry_a_strict_content_security_policy(dash: Dash) -> None:
    response = dash.client.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert f"*.{dash.settings.domain}" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_dashboard_paths_never_shadow_the_api_or_static_files(dash: Dash) -> None:
    # /api/x would match /{owner}/{name} if "api" could be an owner.
    response = dash.client.get("/api/whoami")
    assert response.headers["content-type"].startswith("application/json")
    missing = dash.client.get("/api/spaces/nobody/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    css = dash.client.get("/static/dashboard/podium.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert dash.client.get("/static/dashboard/..%2Fviews.py").status_code == 404
    assert dash.client.get("/favicon.ico").status_code == 404
    assert "Not found" in dash.page("/nobody-here", 404)


def test_profile_lists_the_users_spaces(dash: Dash) -> None:
    dash.user("ivy")
    dash.space("ivy/one", title="One")
    dash.space("ivy/two", title="Two")
    dash.space("someone/else")
    page = dash.page("/ivy")
    assert sorted(cards(page)) == ["ivy/one", "ivy/two"]
    assert "<h1>ivy</h1>" in page
    # A user with no Spaces still has a (empty) profile.
    dash.user("jo")
    assert "jo has no Spaces yet." in dash.page("/jo")
