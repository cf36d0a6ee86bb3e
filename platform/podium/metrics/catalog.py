"""Every metric Podium exports: name, type, labels, help and (histograms) buckets. The
recorder writes only these and the exporter renders only these, so the README's list and
the wire cannot drift apart (tests/unit/test_metrics.py checks the README against it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class Metric:
    # The family name; a counter's samples are exposed as ``{name}_total``.
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    # Upper bounds of a histogram's buckets, ascending (+Inf is implied).
    buckets: tuple[float, ...] = ()

    @property
    def exposed(self) -> str:
        return f"{self.name}_total" if self.kind is Kind.COUNTER else self.name


# A build phase takes from a fraction of a second (code) to many minutes (dependencies).
_BUILD_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
# A deploy waits for the app to answer: seconds for Streamlit, up to a minute or two.
_DEPLOY_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300)
# A light wake (thaw) takes tens of milliseconds, a deep one the app's start.
_WAKE_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60)
# nginx's $request_time, to the millisecond.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

BUILDS = Metric(
    "podium_builds", Kind.COUNTER,
    "Builds a worker ran to an end, by outcome (succeeded, failed, superseded, cancelled).",
    ("outcome",))
BUILD_PHASE = Metric(
    "podium_build_phase_seconds", Kind.HISTOGRAM,
    "Time a build spent in each phase (clone, dependencies, sdk, code, export).",
    ("phase",), _BUILD_BUCKETS)
BUILD_QUEUE = Metric(
    "podium_build_queue_depth", Kind.GAUGE, "Builds queued and not started yet.")
BUILDS_RUNNING = Metric(
    "podium_builds_running", Kind.GAUGE, "Builds a worker is running now.")
DEPLOY = Metric(
    "podium_deploy_seconds", Kind.HISTOGRAM,
    "From a deploy's start to its version taking traffic: kind first (nothing served "
    "before) or swap (a running version replaced).",
    ("kind",), _DEPLOY_BUCKETS)
WAKE = Metric(
    "podium_wake_seconds", Kind.HISTOGRAM,
    "From the scheduler starting a wake to the Space serving: depth light (a frozen "
    "container thawed) or deep (a container started again).",
    ("depth",), _WAKE_BUCKETS)
SPACES = Metric(
    "podium_spaces", Kind.GAUGE, "Spaces in each stage (RUNNING, SLEEPING, BUILD_ERROR, ...).",
    ("stage",))
REQUESTS = Metric(
    "podium_space_requests", Kind.COUNTER,
    "Requests the data plane served to each Space, by status class (2xx, 3xx, 4xx, 5xx).",
    ("space", "status_class"))
REQUEST_SECONDS = Metric(
    "podium_space_request_seconds", Kind.HISTOGRAM,
    "Time the data plane took for each request to a Space (first byte in to last byte out).",
    ("space",), _REQUEST_BUCKETS)
CPU = Metric(
    "podium_space_cpu_seconds", Kind.COUNTER,
    "CPU time used by each Space's running container(s), as the engine last reported it "
    "(starts again from 0 with a new container; use rate()).",
    ("space",))
MEMORY = Metric(
    "podium_space_memory_bytes", Kind.GAUGE,
    "Memory used by each Space's running container(s) (without the page cache it can drop).",
    ("space",))

CATALOG: tuple[Metric, ...] = (
    BUILDS, BUILD_PHASE, BUILD_QUEUE, BUILDS_RUNNING, DEPLOY, WAKE, SPACES, REQUESTS,
    REQUEST_SECONDS, CPU, MEMORY,
)
# Families recorded into Redis by the processes that see the events.
RECORDED: tuple[Metric, ...] = tuple(
    m for m in CATALOG if m.kind is not Kind.GAUGE and m not in (CPU,))
