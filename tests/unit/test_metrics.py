"""The metrics' pure parts: the access log parse, the build phase clock, bucket placement,
the cumulative histogram rendering, container usage arithmetic, and the README's list of
metrics against the catalog. tests/integration/test_metrics.py renders them from real Redis
and a real store; tests/e2e/test_metrics.py scrapes a running platform with Prometheus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from podium.config import Settings
from podium.keys import metrics as keys
from podium.metrics.catalog import (
    BUILD_PHASE,
    BUILDS,
    CATALOG,
    REQUEST_SECONDS,
    REQUESTS,
    WAKE,
    Kind,
)
from podium.metrics.events import PhaseClock, access_lines, build_finished
from podium.metrics.exporter import histogram
from podium.metrics.recorder import Batch, histogram_field, series_field
from podium.spaces.stage import BuildPhase, BuildStatus

README = Path(__file__).resolve().parents[2] / "README.md"


def adds(batch: Batch, family: str) -> dict[str, float]:
    return {field: amount for (key, field), amount in batch.adds.items()
            if key == keys.series(family)}


def test_access_lines_count_requests_by_space_and_status_class() -> None:
    batch = access_lines([
        b"alice/demo 200 0.004", b"alice/demo 304 0.001", b"alice/demo 502 1.500",
        b"bob/app 404 0.020 extra fields someone else added",
        b"alice/demo 499 0.300",
    ])
    assert adds(batch, REQUESTS.name) == {
        series_field(("alice/demo", "2xx")): 1, series_field(("alice/demo", "3xx")): 1,
        series_field(("alice/demo", "5xx")): 1, series_field(("alice/demo", "4xx")): 1,
        series_field(("bob/app", "4xx")): 1,
    }
    times = adds(batch, REQUEST_SECONDS.name)
    assert times[histogram_field(("alice/demo",), "count")] == 4
    assert times[histogram_field(("alice/demo",), "sum")] == pytest.approx(1.805)
    # 0.004 and 0.001 fall in the first bucket (le 0.005), 1.5 in le 2.5, 0.3 in le 0.5.
    assert times[histogram_field(("alice/demo",), "0.005")] == 2
    assert times[histogram_field(("alice/demo",), "2.5")] == 1
    assert times[histogram_field(("alice/demo",), "0.5")] == 1


@pytest.mark.parametrize("line", [
    b"", b"alice/demo", b"alice/demo 200", b"alice/demo abc 0.1", b"alice/demo 20 0.1",
    b"alice/demo 200 -", b"alice/demo 2000 0.1",
])
def test_access_lines_skip_what_is_not_a_request(line: bytes) -> None:
    assert not access_lines([line])


def test_an_observation_lands_in_one_bucket_or_inf() -> None:
    batch = Batch()
    batch.observe(WAKE, 0.05, depth="light")  # le is inclusive: exactly a bound
    batch.observe(WAKE, 1000.0, depth="deep")
    fields = adds(batch, WAKE.name)
    assert fields[histogram_field(("light",), "0.05")] == 1
    assert fields[histogram_field(("deep",), "+Inf")] == 1
    assert fields[histogram_field(("deep",), "sum")] == 1000.0


def test_labels_must_be_the_catalogs() -> None:
    with pytest.raises(ValueError):
        Batch().inc(BUILDS, status="succeeded")


def test_phase_clock_times_each_phase_from_its_log_lines() -> None:
    now = [0.0]
    clock = PhaseClock(lambda: now[0])
    lines: list[tuple[str, str]] = []
    write = clock.wrap(lambda phase, text: lines.append((str(phase), text)))
    write(BuildPhase.CLONE, "exporting")
    now[0] = 2.0
    write(BuildPhase.DEPENDENCIES, "pip install")
    now[0] = 10.0
    write(BuildPhase.DEPENDENCIES, "more pip")
    now[0] = 12.0
    write(BuildPhase.CODE, "COPY .")
    now[0] = 12.5
    write(BuildPhase.DEPENDENCIES, "a late dependencies line adds up")
    now[0] = 13.0
    batch = build_finished(BuildStatus.SUCCEEDED, clock)
    assert clock.spent == {"clone": 2.0, "dependencies": 10.5, "code": 0.5}
    assert len(lines) == 5  # every line still reached the log
    assert adds(batch, BUILDS.name) == {series_field(("succeeded",)): 1}
    phases = adds(batch, BUILD_PHASE.name)
    assert phases[histogram_field(("dependencies",), "sum")] == 10.5
    assert phases[histogram_field(("clone",), "count")] == 1


def test_histogram_renders_cumulative_buckets_and_count() -> None:
    batch = Batch()
    for value in (0.01, 0.04, 0.2, 30.0, 100.0):
        batch.observe(WAKE, value, depth="light")
    fields = adds(batch, WAKE.name)
    family = histogram(WAKE, fields)
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("podium_wake_seconds_bucket", "0.025")] == 1
    assert samples[("podium_wake_seconds_bucket", "0.05")] == 2
    assert samples[("podium_wake_seconds_bucket", "0.25")] == 3
    assert samples[("podium_wake_seconds_bucket", "20.0")] == 3
    assert samples[("podium_wake_seconds_bucket", "60.0")] == 4
    assert samples[("podium_wake_seconds_bucket", "+Inf")] == 5
    assert samples[("podium_wake_seconds_count", None)] == 5
    assert samples[("podium_wake_seconds_sum", None)] == pytest.approx(130.25)


def test_the_listener_is_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PODIUM_METRICS_HOST", "PODIUM_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9464)


def test_readme_lists_every_metric_with_its_type_and_labels() -> None:
    text = README.read_text()
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("podium_"):
            rows[cells[0]] = cells
    for metric in CATALOG:
        assert metric.exposed in rows, f"README's Metrics section lacks {metric.exposed}"
        name, kind, labels = rows[metric.exposed][:3]
        assert kind == metric.kind.value, name
        assert re.findall(r"[a-z_]+", labels) == list(metric.labels) or (
            not metric.labels and labels in ("", "-", "—")), name
    assert set(rows) == {m.exposed for m in CATALOG}
    assert all(m.buckets for m in CATALOG if m.kind is Kind.HISTOGRAM)
    assert json.loads(series_field(("a b", "c"))) == ["a b", "c"]


def test_container_usage_is_read_from_its_cgroup_v1_and_v2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What the metrics and the memory budget both read (scheduler.budget.cgroup_usage):
    memory less the inactive page cache, and the CPU time of the container's cgroup."""
    from podium.scheduler.budget import cgroup_usage

    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "7").mkdir(parents=True)
    (proc / "7" / "cgroup").write_text(
        "4:memory:/podium-spaces/c1\n3:cpu,cpuacct:/podium-spaces/c1\n")
    memory = root / "memory" / "podium-spaces" / "c1"
    cpu = root / "cpu,cpuacct" / "podium-spaces" / "c1"
    memory.mkdir(parents=True)
    cpu.mkdir(parents=True)
    (memory / "memory.usage_in_bytes").write_text("151789568\n")
    (memory / "memory.stat").write_text("cache 10\ntotal_inactive_file 8192\n")
    (cpu / "cpuacct.usage").write_text("7966230845\n")
    used = cgroup_usage(7, proc=proc, root=root)
    assert used is not None and (used.memory, used.cpu_ns) == (151_789_568 - 8192, 7_966_230_845)

    (proc / "8").mkdir()
    (proc / "8" / "cgroup").write_text("0::/podium-spaces/c2\n")
    unified = root / "podium-spaces" / "c2"
    unified.mkdir(parents=True)
    (unified / "memory.current").write_text("1000\n")
    (unified / "memory.stat").write_text("inactive_file 400\n")
    (unified / "cpu.stat").write_text("usage_usec 2000000\nuser_usec 1\n")
    used = cgroup_usage(8, proc=proc, root=root)
    assert used is not None and (used.memory, used.cpu_ns) == (600, 2_000_000_000)
    assert cgroup_usage(9, proc=proc, root=root) is None  # a container just gone
