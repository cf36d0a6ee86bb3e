"""Every Redis key name Podium uses, built in one place (the shape of rq's ``rq/keys.py``),
so a writer and its readers in other processes cannot drift apart.

The strings are the ones Podium has always written: Redis runs with an append-only file, so
sessions, deploy requests, scheduler records and the rate limit rq keeps for the build queue
all outlive a restart, and renaming a key would orphan them. rq's own keys (``rq:...``) are
rq's business and are not named here.

Layout (``{prefix}`` is "podium" unless a caller passes another, as tests do):

- ``podium:builds:*``        the build queue's side (``builds``)
- ``podium-builds-{queue}``  rq's rate limit slot counter for the queue (its historic name)
- ``{prefix}:sched:*``       what the scheduler remembers per Space (``SchedulerKeys``)
- ``{prefix}:routes...``     the route table and what proxies write back (``RouteKeys``)
- ``podium:session:*``       dashboard sessions (``sessions``)
- ``podium:login-failures``  the ``limits`` storage prefix of the password throttle
- ``podium:metrics:*``       Prometheus series every process records (``metrics``)
- ``{prefix}:visits:*``      visit counters, visitor HyperLogLogs and day salts (``VisitKeys``)
"""

from __future__ import annotations

from podium.names import SpaceId

PREFIX = "podium"

# The ``limits`` library's key prefix for failed password checks (podium.throttle).
LOGIN_FAILURES = f"{PREFIX}:login-failures"


_BUILDS = f"{PREFIX}:builds"


class _Builds:
    """Build queue keys; used as ``from podium.keys import builds as keys`` in builds/."""

    PREFIX = _BUILDS
    # Hash build id -> Space id of builds whose job started and has not ended: what the
    # reaper watches.
    ACTIVE = f"{_BUILDS}:active"
    # Hash Space key -> its latest successful build's deploy request (podium.builds.deploys).
    DEPLOYS = f"{_BUILDS}:deploys"
    # -- push to live (issue 14 item 1) --
    # List the build job pushes to once a deploy request can run (its build recorded as
    # succeeded): the scheduler loop blocks on it beside the wake requests, so a deploy
    # starts at once instead of at the loop's next pass (up to a second later).
    DEPLOY_NUDGE = f"{_BUILDS}:deploy-nudge"

    def log_stream(self, build_id: str) -> str:
        return f"{self.PREFIX}:log:{build_id}"

    def log_end(self, build_id: str) -> str:
        """Set by whichever writer ends a build's stream first: one terminal event per build."""
        return f"{self.PREFIX}:log-end:{build_id}"

    def lease(self, build_id: str) -> str:
        return f"{self.PREFIX}:lease:{build_id}"

    def claim(self, build_id: str) -> str:
        """Set once, by whichever comes first: the job starting or a newer push superseding."""
        return f"{self.PREFIX}:claim:{build_id}"

    def space_lock(self, space_id: SpaceId) -> str:
        return f"{self.PREFIX}:lock:enqueue:{space_id.key}"

    def deploy_lock(self, space_id: SpaceId) -> str:
        return f"{self.PREFIX}:lock:deploy:{space_id.key}"

    def rate_limit(self, queue_name: str) -> str:
        # Dashes, not colons: rq persists the slot count under this name (AOF), so it stays.
        return f"{PREFIX}-builds-{queue_name}"

    # -- builds on any node (issue 12 item 3) --
    def fetch_ticket(self, digest: str) -> str:
        """A one-build read ticket, by the sha256 of its secret (podium.gitserver.tickets):
        the Space key it may fetch, expiring on its own."""
        return f"{self.PREFIX}:fetch-ticket:{digest}"


builds = _Builds()


class SchedulerKeys:
    """What the scheduler keeps per Space (podium.scheduler.records)."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = f"{prefix}:sched"
        # Set of the Space keys that have a record.
        self.spaces = f"{self.prefix}:spaces"

    def record(self, space_key: str) -> str:
        """Hash: the last deployed RunSpec, container and desired state."""
        return f"{self.prefix}:space:{space_key}"

    def starting(self, space_key: str) -> str:
        """Hash: a start under way (since, container), so other processes see it."""
        return f"{self.prefix}:starting:{space_key}"

    def cancel(self, space_key: str) -> str:
        """Hash: a request to abandon the start under way."""
        return f"{self.prefix}:cancel:{space_key}"

    def lock(self, space_key: str) -> str:
        return f"{self.prefix}:lock:{space_key}"

    # -- warm standby (issue 14 goal 1; scheduler/warm.py) --
    def standby(self, space_key: str) -> str:
        """String: the id of the Space's warm standby container waiting for code; expires
        after Settings.standby_window (the sweep then removes the container)."""
        return f"{self.prefix}:standby:{space_key}"


class RouteKeys:
    """The route table's keys (podium.routes documents each one), shared by the sync
    table and the proxy's async reader."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.routes = f"{prefix}:routes"
        self.subdomains = f"{prefix}:routes:subdomain"
        self.activity = f"{prefix}:activity"
        self.proxies = f"{prefix}:proxies"
        self.wake = f"{prefix}:wake"
        self.generation = f"{prefix}:routes:gen"
        self.planes = f"{prefix}:planes"
        self.applied = f"{prefix}:planes:applied"

    def streams(self, space_key: str) -> str:
        return f"{self.prefix}:streams:{space_key}"

    def wake_pending(self, space_key: str) -> str:
        return f"{self.prefix}:wake:pending:{space_key}"

    def revoked(self, space_key: str, subject: str) -> str:
        return f"{self.prefix}:revoked:{space_key}:{subject}"


_SESSIONS = f"{PREFIX}:session"


class _Sessions:
    """Dashboard sessions (podium.api.sessions)."""

    PREFIX = _SESSIONS

    def session(self, digest: str) -> str:
        """String: the user id of the session whose cookie hashes to ``digest``."""
        return f"{self.PREFIX}:id:{digest}"

    def user(self, user_id: int) -> str:
        """Set: the digests of one user's sessions."""
        return f"{self.PREFIX}:user:{user_id}"


sessions = _Sessions()


# -- push to live: dev mode (issue 14 item 2) --
def dev_synced(space_key: str) -> str:
    """String (JSON {commit, container}): the push last copied into the Space's running
    container in dev mode (podium.controller.devmode)."""
    return f"{PREFIX}:dev:synced:{space_key}"

_METRICS = f"{PREFIX}:metrics"


class _Metrics:
    """Prometheus metrics every process records and `podium api` renders (podium.metrics)."""

    PREFIX = _METRICS
    # Hash Space key -> JSON {cpu, memory, at}: the scheduler's last sample of its containers.
    USAGE = f"{_METRICS}:usage"

    def series(self, family: str) -> str:
        """Hash: one counter or histogram family, a field per labelled series (and, for a
        histogram, per bucket, sum and count)."""
        return f"{self.PREFIX}:series:{family}"


metrics = _Metrics()

# -- Analytics: visits per Space per day (podium.analytics) -----------------------------
# Kept 31 days (the dashboard draws 30), then Redis drops them by themselves.
VISITS_TTL_SECONDS = 31 * 24 * 3600


class VisitKeys:
    """A Space's visits per UTC day: a counter and a HyperLogLog of hashed visitors, and
    the day's salt for those hashes (expires when the day ends: nobody can rebuild a
    visitor's hash afterwards)."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.prefix = f"{prefix}:visits"

    def salt(self, day: str) -> str:
        return f"{self.prefix}:salt:{day}"

    def count(self, space_key: str, day: str) -> str:
        return f"{self.prefix}:n:{space_key}:{day}"

    def visitors(self, space_key: str, day: str) -> str:
        return f"{self.prefix}:u:{space_key}:{day}"
