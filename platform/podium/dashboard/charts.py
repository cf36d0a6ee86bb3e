"""The visits chart as plain numbers for an inline SVG drawn by the template (_visits.html):
no script, no library, nothing fetched. Pure, so its geometry is unit-tested."""

from __future__ import annotations

from dataclasses import dataclass

from podium.analytics.visits import DayVisits

WIDTH = 300
HEIGHT = 60
GAP = 2


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    visits_y: float
    visits_h: float
    visitors_y: float
    visitors_h: float
    label: str  # the tooltip: "2026-12-01: 5 visits, 3 visitors"


@dataclass(frozen=True, slots=True)
class VisitChart:
    bars: list[Bar]
    total_visits: int
    peak: int
    first: str
    last: str
    width: int = WIDTH
    height: int = HEIGHT

    @classmethod
    def of(cls, days: list[DayVisits]) -> VisitChart:
        peak = max((d.visits for d in days), default=0)
        step = WIDTH / max(len(days), 1)
        bars = []
        for index, d in enumerate(days):
            visits_h = HEIGHT * d.visits / peak if peak else 0.0
            # An estimate may exceed the day's visits by the HyperLogLog's error: capped.
            visitors_h = min(HEIGHT * d.visitors / peak if peak else 0.0, visits_h)
            bars.append(Bar(
                x=round(index * step, 2), width=round(step - GAP, 2),
                visits_y=round(HEIGHT - visits_h, 2), visits_h=round(visits_h, 2),
                visitors_y=round(HEIGHT - visitors_h, 2), visitors_h=round(visitors_h, 2),
                label=f"{d.day.isoformat()}: {d.visits} visits, {d.visitors} visitors",
            ))
        return cls(bars=bars, total_visits=sum(d.visits for d in days), peak=peak,
                   first=days[0].day.isoformat() if days else "",
                   last=days[-1].day.isoformat() if days else "")
