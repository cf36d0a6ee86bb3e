"""Prometheus metrics across Podium's processes.

Every process (worker, scheduler, proxy, on any host) records what it sees into Redis
(``recorder.py``: counters and histogram buckets as hash increments, a pipeline per event or
per batch); ``podium api`` renders them with a custom collector on its own listener
(``exporter.py``), adding gauges read at scrape time (Spaces by stage and the build queue
from the store, container usage the scheduler sampled). ``catalog.py`` names every metric.

Why Redis and not prometheus_client's multiprocess mode: that mode shares one directory of
mmap files between processes of one host, while Podium's workers and schedulers may run on
several hosts with one Redis (and one database) between them. Redis is already where they
meet, so one scrape of one endpoint sees the whole platform.

Layers: the recording side (this package but ``exporter``) is a shared leaf the workers,
scheduler and proxy call into; ``exporter`` reads the store and is an edge of the API
process (tests/unit/test_layers.py).
"""
