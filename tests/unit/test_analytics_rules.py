"""Pure rules of issue 15 items 2 and 3: what a visit is, the chart's geometry, and the two
numbers `podium gc` prints."""

from __future__ import annotations

from datetime import date

from podium.analytics.visits import DayVisits, is_page_visit, visitor_hash
from podium.builder.retention import Reclaimed
from podium.cli.server import gc_summary
from podium.controller.diskuse import human_bytes
from podium.dashboard.charts import HEIGHT, VisitChart


def test_a_visit_is_a_navigation_answered_2xx() -> None:
    assert is_page_visit("GET", 200, "navigate", None)
    assert is_page_visit("GET", 204, None, "text/html,application/xhtml+xml")
    assert not is_page_visit("GET", 200, "no-cors", "text/html")  # an asset, by its mode
    assert not is_page_visit("GET", 200, "cors", "*/*")  # fetch() from the app
    assert not is_page_visit("GET", 200, None, "application/json")
    assert not is_page_visit("POST", 200, "navigate", "text/html")
    assert not is_page_visit("GET", 304, "navigate", "text/html")
    assert not is_page_visit("GET", 404, "navigate", "text/html")


def test_visitor_hash_depends_on_salt_address_and_agent() -> None:
    base = visitor_hash(b"s1", "203.0.113.7", "ua")
    assert len(base) == 16 and b"203.0.113.7" not in base
    assert base == visitor_hash(b"s1", "203.0.113.7", "ua")
    assert base != visitor_hash(b"s2", "203.0.113.7", "ua")
    assert base != visitor_hash(b"s1", "203.0.113.8", "ua")
    assert base != visitor_hash(b"s1", "203.0.113.7", "ua2")


def test_chart_scales_to_the_busiest_day_and_caps_visitors() -> None:
    days = [DayVisits(date(2026, 12, d), v, u) for d, v, u in ((1, 0, 0), (2, 4, 4), (3, 2, 3))]
    chart = VisitChart.of(days)
    assert chart.total_visits == 6 and chart.peak == 4
    assert [b.visits_h for b in chart.bars] == [0, HEIGHT, HEIGHT / 2]
    # An estimate above the day's visits (HyperLogLog error) never outgrows its bar.
    assert chart.bars[2].visitors_h == chart.bars[2].visits_h
    assert chart.bars[1].label == "2026-12-02: 4 visits, 4 visitors"
    assert (chart.first, chart.last) == ("2026-12-01", "2026-12-03")
    empty = VisitChart.of([DayVisits(date(2026, 12, 1), 0, 0)])
    assert empty.peak == 0 and empty.bars[0].visits_h == 0


def test_gc_summary_says_both_what_the_disk_got_back_and_what_the_images_listed() -> None:
    # Issue 15: 18 code-only rebuilds removed read "reclaimed 0.0 MB (18 images)".
    shared = Reclaimed(images=[f"podium-space/a--b:{i}" for i in range(18)], bytes=12_345,
                       image_bytes=18 * 1_600_000_000)
    assert gc_summary(shared) == (
        "reclaimed 12.3 kB on disk (docker system df, before - after); removed 18 images "
        "listed at 28.8 GB together (shared layers counted in each)")
    assert human_bytes(999) == "999 B" and human_bytes(None) == "-"
