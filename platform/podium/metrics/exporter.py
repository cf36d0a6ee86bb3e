"""``GET /metrics`` of the API process: what every process recorded in Redis, plus gauges
read at scrape time (Spaces by stage and the build queue from the store, the scheduler's
last sample of container usage), on a listener of its own (``PODIUM_METRICS_HOST``:
``PODIUM_METRICS_PORT``, loopback by default) that the public port never reaches.

An edge of the API process (it reads the store), so it may import what it likes; the
processes that record import only the leaves beside it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, start_wsgi_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from podium.config import Settings
from podium.keys import metrics as keys
from podium.metrics.catalog import (
    BUILD_QUEUE,
    BUILDS_RUNNING,
    CPU,
    MEMORY,
    RECORDED,
    SPACES,
    Kind,
    Metric,
)
from podium.metrics.recorder import INF, SUM, bound_name
from podium.spaces.stage import BuildStatus

log = logging.getLogger(__name__)

Family = CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class PodiumCollector(Collector):
    """Renders the whole platform at each scrape. ``db`` is a ``podium.store.Database``;
    usage samples older than ``usage_fresh`` seconds are left out (the Space slept, or no
    scheduler samples any more)."""

    def __init__(self, conn: redis.Redis, db: Any, *, usage_fresh: float) -> None:
        self.conn = conn
        self.db = db
        self.usage_fresh = usage_fresh

    def collect(self) -> Iterator[Family]:
        for metric in RECORDED:
            raw = self.conn.hgetall(keys.series(metric.name))
            fields = {_text(k): float(v) for k, v in raw.items()}
            if metric.kind is Kind.COUNTER:
                yield counter(metric, fields)
            else:
                yield histogram(metric, fields)
        yield from self._store()
        yield from self._usage()

    def _store(self) -> Iterator[Family]:
        from podium.store.counts import builds_by_status, spaces_by_stage

        with self.db.session() as session:
            stages = spaces_by_stage(session)
            builds = builds_by_status(session, (BuildStatus.QUEUED, BuildStatus.BUILDING))
        spaces = GaugeMetricFamily(SPACES.name, SPACES.help, labels=SPACES.labels)
        for stage, count in stages.items():
            spaces.add_metric([str(stage)], count)
        yield spaces
        yield GaugeMetricFamily(BUILD_QUEUE.name, BUILD_QUEUE.help,
                                value=builds[BuildStatus.QUEUED])
        yield GaugeMetricFamily(BUILDS_RUNNING.name, BUILDS_RUNNING.help,
                                value=builds[BuildStatus.BUILDING])

    def _usage(self) -> Iterator[Family]:
        cpu = CounterMetricFamily(CPU.name, CPU.help, labels=CPU.labels)
        memory = GaugeMetricFamily(MEMORY.name, MEMORY.help, labels=MEMORY.labels)
        now = time.time()
        for field, raw in sorted(self.conn.hgetall(keys.USAGE).items()):
            try:
                sample = json.loads(raw)
                if now - float(sample["at"]) > self.usage_fresh:
                    continue
                cpu.add_metric([_text(field)], float(sample["cpu"]))
                memory.add_metric([_text(field)], float(sample["memory"]))
            except (ValueError, KeyError, TypeError):
                continue
        yield cpu
        yield memory


def counter(metric: Metric, fields: dict[str, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
    for field, value in sorted(fields.items()):
        family.add_metric(json.loads(field), value)
    return family


def histogram(metric: Metric, fields: dict[str, float]) -> HistogramMetricFamily:
    """Per series, the stored per-bucket counts made cumulative, as Prometheus wants them."""
    parts: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for field, value in fields.items():
        values, part = json.loads(field)
        parts[tuple(values)][part] = value
    family = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
    for values, stored in sorted(parts.items()):
        running = 0.0
        buckets = []
        for bound in metric.buckets:
            running += stored.get(bound_name(bound), 0.0)
            buckets.append((floatToGoString(bound), running))
        running += stored.get(INF, 0.0)
        buckets.append(("+Inf", running))  # the count: every observation has one bucket
        family.add_metric(list(values), buckets, sum_value=stored.get(SUM, 0.0))
    return family


def registry(settings: Settings, conn: redis.Redis, db: Any) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    # Three samples' worth: one missed sample does not make a running Space vanish.
    fresh = max(settings.metrics_usage_interval * 3, 30.0)
    reg.register(PodiumCollector(conn, db, usage_fresh=fresh))
    return reg


def serve_metrics(settings: Settings) -> bool:
    """Start the metrics listener in a thread of this process (``podium api``). Returns
    whether it listens: port 0 turns it off, and a port already taken is logged, not fatal
    (the API, dashboard and git matter more than their metrics)."""
    if not settings.metrics_port:
        return False
    from podium.store.db import Database

    reg = registry(settings, redis.Redis.from_url(settings.redis_url), Database(settings))
    try:
        start_wsgi_server(settings.metrics_port, settings.metrics_host, reg)
    except OSError as exc:
        log.error("metrics listener on %s:%s not started: %s", settings.metrics_host,
                  settings.metrics_port, exc)
        return False
    log.info("metrics at http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
    return True
