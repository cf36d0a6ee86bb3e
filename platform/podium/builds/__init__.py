"""Builds: the rq queue and its job, build records and stage changes, live logs in Redis
streams, leases and the reaper that fails builds whose worker died."""
