"""What the processes hand the recorder, turned into series: a build's end and its phases'
times (the worker), and the data plane's access log lines (the proxy)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from podium.metrics.catalog import BUILD_PHASE, BUILDS, REQUEST_SECONDS, REQUESTS
from podium.metrics.recorder import Batch, bucket_of


class PhaseClock:
    """Times a build's phases from its log: the first line of a phase starts it, the first
    line of another phase (or ``stop``) ends it. A phase met twice adds up."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.phase: str | None = None
        self.since = 0.0
        self.spent: dict[str, float] = {}

    def mark(self, phase: Any) -> None:
        name = str(phase)
        if name == self.phase:
            return
        self.stop()
        self.phase, self.since = name, self.clock()

    def stop(self) -> None:
        if self.phase is not None:
            self.spent[self.phase] = self.spent.get(self.phase, 0.0) + self.clock() - self.since
            self.phase = None

    def wrap(self, write: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
        """A build log writer that also marks the phase of every line it writes."""
        def timed(phase: Any, text: str) -> None:
            self.mark(phase)
            write(phase, text)

        return timed


def build_finished(outcome: str, clock: PhaseClock) -> Batch:
    """The batch a build's end records: its outcome and each phase it went through."""
    clock.stop()
    batch = Batch()
    batch.inc(BUILDS, outcome=outcome.lower())
    for phase, seconds in clock.spent.items():
        batch.observe(BUILD_PHASE, seconds, phase=phase)
    return batch


def access_lines(lines: Iterable[bytes], batch: Batch | None = None) -> Batch:
    """nginx's access log lines ``{space key} {status} {request time}`` (fields after these
    are someone else's: the parse takes the first three) as request counts and times, added
    up per Space first (a busy second is thousands of lines over a few Spaces)."""
    batch = batch if batch is not None else Batch()
    requests: Counter[tuple[bytes, bytes]] = Counter()
    buckets: dict[bytes, Counter[int]] = defaultdict(Counter)
    totals: dict[bytes, float] = defaultdict(float)
    for line in lines:
        fields = line.split(None, 3)
        if len(fields) < 3:
            continue
        space, status, seconds = fields[0], fields[1], fields[2]
        if len(status) != 3 or not status.isdigit():
            continue
        try:
            elapsed = float(seconds)
        except ValueError:
            continue
        requests[(space, status[:1])] += 1
        buckets[space][bucket_of(REQUEST_SECONDS, elapsed)] += 1
        totals[space] += elapsed
    for (space, klass), count in requests.items():
        batch.inc(REQUESTS, count, space=space.decode("latin-1"),
                  status_class=f"{klass.decode()}xx")
    for space, counts in buckets.items():
        batch.observe_many(REQUEST_SECONDS, counts, totals[space],
                           space=space.decode("latin-1"))
    return batch
