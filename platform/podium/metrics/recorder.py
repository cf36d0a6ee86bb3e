"""Recording metrics into Redis, where every process of every host meets.

A counter is one hash per family, a field per labelled series, moved by HINCRBYFLOAT. A
histogram is the same hash with, per series, a field for the one bucket an observation falls
in (not cumulative: the exporter sums them at scrape time), its sum and its count. A
``Batch`` adds up many events in memory and sends them in one pipeline (the proxy's access
log, a second at a time); a metric that cannot be written is logged and dropped: a build, a
deploy or a request never fails because Redis hiccupped while it was being counted.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import defaultdict
from collections.abc import Mapping

import redis

from podium.keys import metrics as keys
from podium.metrics.catalog import Kind, Metric

log = logging.getLogger(__name__)

SUM = "sum"
COUNT = "count"
INF = "+Inf"


def series_field(values: tuple[str, ...]) -> str:
    """A counter's field: its label values, in the catalog's order."""
    return json.dumps(list(values), separators=(",", ":"))


def histogram_field(values: tuple[str, ...], part: str) -> str:
    """A histogram's field: label values and the part (a bucket's bound, sum or count)."""
    return json.dumps([list(values), part], separators=(",", ":"))


def bound_name(bound: float) -> str:
    return repr(float(bound))


def label_values(metric: Metric, labels: Mapping[str, str]) -> tuple[str, ...]:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, not {tuple(labels)}")
    return tuple(str(labels[name]) for name in metric.labels)


class Batch:
    """Increments added up in memory; ``Recorder.send`` writes them in one round trip."""

    def __init__(self) -> None:
        self.adds: dict[tuple[str, str], float] = defaultdict(float)

    def __bool__(self) -> bool:
        return bool(self.adds)

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        assert metric.kind is Kind.COUNTER, metric.name
        values = label_values(metric, labels)
        self.adds[(keys.series(metric.name), series_field(values))] += amount

    def observe(self, metric: Metric, value: float, **labels: str) -> None:
        self.observe_many(metric, {bucket_of(metric, value): 1}, value, **labels)

    def observe_many(self, metric: Metric, buckets: Mapping[int, int], total: float,
                     **labels: str) -> None:
        """Observations already added up: how many fell in each bucket (by index into
        ``metric.buckets``, its length for +Inf) and the sum of their values."""
        assert metric.kind is Kind.HISTOGRAM, metric.name
        values = label_values(metric, labels)
        key = keys.series(metric.name)
        for index, count in buckets.items():
            bound = bound_name(metric.buckets[index]) if index < len(metric.buckets) else INF
            self.adds[(key, histogram_field(values, bound))] += count
        self.adds[(key, histogram_field(values, COUNT))] += sum(buckets.values())
        self.adds[(key, histogram_field(values, SUM))] += total


def bucket_of(metric: Metric, value: float) -> int:
    """The index of the first bucket whose bound is >= value (len(buckets) = +Inf)."""
    return bisect.bisect_left(metric.buckets, value)


class Recorder:
    """Writes batches (or single events) to Redis; never raises for Redis' sake."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn

    def send(self, batch: Batch) -> None:
        if not batch:
            return
        try:
            pipe = self.conn.pipeline(transaction=False)
            for (key, field), amount in batch.adds.items():
                pipe.hincrbyfloat(key, field, amount)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("metrics not recorded: %s", exc)

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        batch = Batch()
        batch.inc(metric, amount, **labels)
        self.send(batch)

    def observe(self, metric: Metric, value: float, **labels: str) -> None:
        batch = Batch()
        batch.observe(metric, value, **labels)
        self.send(batch)

    def put_usage(self, usage: Mapping[str, tuple[float, float]], *, forget_after: float,
                  now: float | None = None) -> None:
        """The scheduler's sample of its Spaces: Space key -> (CPU seconds, memory bytes).
        Entries this host (or another) has not refreshed for ``forget_after`` seconds go: a
        Space that sleeps or was deleted stops being reported."""
        now = time.time() if now is None else now
        try:
            stale = [field for field, raw in self.conn.hgetall(keys.USAGE).items()
                     if now - _at(raw) > forget_after]
            pipe = self.conn.pipeline(transaction=False)
            if stale:
                pipe.hdel(keys.USAGE, *stale)
            for space_key, (cpu, memory) in usage.items():
                pipe.hset(keys.USAGE, space_key, json.dumps(
                    {"cpu": cpu, "memory": memory, "at": now}))
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("container usage not recorded: %s", exc)


def _at(raw: bytes | str) -> float:
    try:
        return float(json.loads(raw)["at"])
    except (ValueError, KeyError, TypeError):
        return 0.0
