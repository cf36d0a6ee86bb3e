"""The dashboard's pure view rules: paging, filter links, redirects, badges, card colours."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.config import Settings
from podium.controller.templates import list_templates
from podium.dashboard import views
from podium.names import SpaceId
from podium.redirects import safe_next
from podium.spaces.stage import Stage


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (1, 42, [1, 2, 3, None, 42]),
        (20, 42, [1, None, 18, 19, 20, 21, 22, None, 42]),
        (42, 42, [1, None, 40, 41, 42]),
        (4, 7, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_pager_window_links_ends_and_neighbours(page: int, pages: int, expected: list) -> None:
    pager = views.Pager(page, total=pages * views.PAGE_SIZE)
    assert pager.pages == pages
    assert pager.window() == expected


def test_pager_counts_a_partial_last_page_and_an_empty_listing() -> None:
    assert views.Pager(1, total=0).pages == 1
    assert views.Pager(1, total=25).pages == 2
    last = views.Pager(2, total=25)
    assert (last.offset, last.has_prev, last.has_next) == (24, True, False)


def test_query_string_keeps_filters_and_drops_empty_values_and_page_one() -> None:
    params = {"search": "cat dog", "sdk": "gradio", "stage": "", "page": 3}
    assert views.query_string(params, page=4) == "?search=cat+dog&sdk=gradio&page=4"
    assert views.query_string(params, page=1) == "?search=cat+dog&sdk=gradio"
    assert views.query_string({"page": 1}) == ""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/alice/demo?x=1", "/alice/demo?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next_only_allows_local_paths(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_every_stage_has_a_label_and_a_tone() -> None:
    for stage in Stage:
        assert views.STAGE_LABELS[stage]
        tone = views.stage_tone(stage)
        assert tone in {"ok", "error", "busy", "idle"}
        assert (tone == "ok") == stage.is_serving
        assert (tone == "error") == stage.is_error


def test_card_colours_come_only_from_the_named_palette() -> None:
    assert views.card_color("green", "indigo") == "green"
    assert views.card_color("red; background: url(x)", "indigo") == "indigo"
    assert views.card_color(None, "purple") == "purple"


def test_space_urls_use_the_subdomain_and_public_port() -> None:
    settings = Settings(domain="example.test", public_port=8443, scheme="http")
    urls = views.SpaceUrls.of(settings, SpaceId("Alice", "My_Demo"))
    assert urls.host == "http://alice-my-demo.example.test:8443/"
    assert urls.git == "http://example.test:8443/spaces/Alice/My_Demo.git"
    assert urls.page == "/Alice/My_Demo"
    standard = views.SpaceUrls.of(Settings(domain="x.test", public_port=80), SpaceId("a", "b"))
    assert standard.host == "http://a-b.x.test/"


def test_templates_are_described_by_their_readme(tmp_path: Path) -> None:
    found = {t.name: t for t in views.template_cards(Settings())}
    assert "gradio-hello" in found
    assert found["gradio-hello"].sdk == "gradio"
    assert found["gradio-hello"].title
    # The same list the API and `podium create --template` offer.
    assert list(found) == [t.name for t in list_templates(Settings())]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "README.md").write_text("---\nsdk: [not, valid\n---\n")
    assert views.template_cards(Settings(templates_dir=tmp_path)) == []
    assert views.template_cards(Settings(templates_dir=tmp_path / "missing")) == []


def test_human_size() -> None:
    assert views.human_size(None) == ""
    assert views.human_size(512) == "512 B"
    assert views.human_size(2048) == "2.0 kB"
    assert views.human_size(5 * 1024 * 1024) == "5.0 MB"
