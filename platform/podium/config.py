"""The one Settings object. Built once (``Settings()``) at a process edge and passed in.

Every field can be set from the environment with the ``PODIUM_`` prefix, e.g.
``PODIUM_DATA_DIR=/srv/podium``, ``PODIUM_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from podium.errors import SettingsError

ENV_PREFIX = "PODIUM_"


def env_name(setting: str) -> str:
    """The environment variable of a ``Settings`` field, as operators write it."""
    return f"{ENV_PREFIX}{setting.upper()}"


if TYPE_CHECKING:  # names does not import config; the hint alone needs no import at run time
    from podium.names import SpaceId


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "podium"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Where repos, the SQLite database, the embedded Redis and logs live.
    data_dir: Path = Field(default_factory=_default_data_dir)

    # Public addressing: Spaces are served at {scheme}://{owner}-{name}.{domain}:{public_port}/
    # only; {scheme}://{domain}:{public_port}/spaces/{owner}/{name}/… redirects there (Space
    # code never runs on the dashboard's origin).
    domain: str = "localhost"
    scheme: str = "http"
    public_port: int = 8080
    # The API + dashboard + git server process listens here; the proxy forwards non-Space
    # traffic to it, so users only ever need the public port.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Where the proxy reaches the API when that is not where the API binds (compose: the
    # API binds 0.0.0.0 and the proxy dials http://api:8000). Empty = api_host:api_port.
    api_url: str = ""
    proxy_host: str = "0.0.0.0"
    # The proxy's data plane (podium.proxy.plane). "nginx-lua": nginx serves plain requests
    # to public, running Spaces, with routes pushed into its shared memory (never reloaded),
    # and hands everything else to the Python proxy behind it; bench/proxy.py measured it at
    # 0.93x of direct at c=64 vs 0.67-0.70x for the Python proxy alone. "python": the Python
    # proxy alone, for development and tests. (The reload-based "nginx" plane is gone: it
    # reset requests on kept-alive connections at every route change.)
    proxy_data_plane: Literal["nginx-lua", "python"] = "nginx-lua"
    nginx_binary: str = "nginx"
    # nginx worker processes (0 = one per core).
    proxy_workers: int = 1
    # A front proxy whose X-Forwarded-For is believed (an address, or "*"); empty = none,
    # the Podium proxy is the public edge. The nginx data plane sets it for its own Python
    # proxy.
    proxy_trusted_front: str = ""
    # How long a version replaced by a deploy keeps serving websockets and event streams
    # opened before the swap (seconds), before it is stopped.
    drain_timeout: float = 30.0

    # Empty = `podium up` starts its own redis-server with data in data_dir.
    redis_url: str = ""
    # Empty = SQLite file in data_dir. PostgreSQL: postgresql+psycopg://user:pw@host/db
    database_url: str = ""
    # Key for secrets at rest (Fernet, urlsafe base64 of 32 bytes). Empty = generated once
    # into data_dir/secret.key.
    secret_key: str = ""

    # Builds
    base_image: str = "podium/base:bookworm"
    # Used instead of the offline debootstrap image when a registry answers.
    registry_base_image: str = "python:3.11-slim"
    # Extra CA bundle handed to builds (PIP_CERT / SSL_CERT_FILE): needed behind a
    # TLS-intercepting proxy, as on corporate networks.
    ca_bundle: Path | None = None
    index_url: str = ""
    extra_index_url: str = ""
    build_timeout: int = 1800
    build_cpus: float = 1.5
    build_memory: str = "4g"
    max_concurrent_builds: int = 1
    # Images kept per Space besides the running one (for a rollback); older ones and the
    # dangling Space images rebuilds left are removed after builds and every gc_interval s.
    image_retention: int = 2
    gc_interval: int = 3600
    # Docker network the build's RUN steps get: a bridge the build worker creates and
    # firewalls from this host like the Spaces network (podium.bridges, podium.firewall), so a
    # Dockerfile cannot reach the API, Redis or the proxy through the bridge gateway or any
    # host address; the internet (the package index) stays reachable.
    build_network: str = "podium-builds"
    queue_name: str = "podium-builds"

    # git push: a push that would grow a Space's repository past this is refused.
    repo_max_bytes: int = 1 << 30
    # Git LFS: the largest object one upload may store (the batch answer refuses bigger
    # ones by name, so git-lfs prints why). Objects count apart from repo_max_bytes.
    lfs_object_max_bytes: int = 1 << 30
    # Importing a Space from a git URL (POST /api/spaces {"from_url": ...}) runs in the
    # API process off the request path, this many at a time; the rest wait their turn.
    import_concurrency: int = 4
    # Imports one owner may have queued or running at once; past it the POST gets 429.
    import_per_owner: int = 4
    # Bounds on one import, so a source that accepts and never answers (or trickles)
    # holds a slot for a bounded time: TCP connect (s), the whole clone (s), and a
    # transfer slower than 1 kB/s for import_stall_s. Its size is bounded by repo_max_bytes.
    import_connect_timeout: float = 10.0
    import_timeout: float = 300.0
    import_stall_s: float = 30.0
    # The platform fetches user-given URLs (imports) only from public addresses: never
    # loopback, private, link-local, multicast, reserved or this host's own (an SSRF).
    # Comma-separated CIDRs or host names an admin opens anyway, e.g. a git server on the
    # LAN: "10.1.2.0/24,git.internal". Empty = none.
    egress_allow: str = ""

    # Dotted path "module:function" called by the post-receive hook for the default branch:
    # on_push(settings, space_id, ref, old, new, pusher) -> list[str] (shown as remote: lines).
    # Empty = store pushes without building.
    push_handler: str = "podium.controller.push:on_push"

    # Running Spaces (defaults; per-Space settings may lower or raise them)
    space_cpus: float = 1.0
    space_memory: str = "2g"
    space_pids: int = 512
    # Disk quotas (scheduler/storage.py), sizes like "5g" or "512m"; "0" = no quota. Writes
    # past them fail inside the Space with "No space left on device", never filling the
    # host's disk: /data (persistent, per Space) and the writable layer (per container:
    # /tmp, $HOME and everything else outside /data, gone at the next deploy).
    space_data_quota: str = "5g"
    space_disk_quota: str = "1g"
    # CPU priority (scheduler/cpu.py): every Space container runs under this parent cgroup,
    # whose weight against the platform's processes (1024 each) is space_cpu_shares, so the
    # dashboard, API and proxy stay fast while Spaces spin on every core. Empty = off.
    space_cgroup_parent: str = "/podium-spaces"
    space_cpu_shares: int = Field(128, ge=2, le=262144)
    # Seconds without traffic before a Space sleeps deeply: its container is removed (Spaces'
    # free tier: 48 h; it is frozen after freeze_after before that). 0 = never sleeps.
    sleep_time: int = 48 * 3600
    # -- Shared dependency cache (issue 14 item 3; builder/wheelhouse.py) --
    # A platform step downloads the wheels of a Space's requirements into data_dir/wheelhouse
    # (wheels only, from the index, running no Space code) and the build installs them with
    # uv from its own copy: overlapping requirements are not downloaded again, and the
    # `+ scipy` rebuild takes seconds instead of pip's minute. Off = pip from the index only.
    dependency_cache: bool = True
    # -- Incremental dependency layer (issue 14 goal 3; builder/incremental.py) --
    # When a Space's requirements.txt only adds lines to those of its own previous image
    # (same base image, SDK, constraints, packages.txt, pre-requirements.txt), the install
    # step runs on that image's dependency layer, so only the added packages are installed
    # and byte-compiled (a full reinstall was most of a `+ scipy` rebuild). This many such
    # builds in a row, then a full install (the layers would pile up); 0 = always full.
    incremental_dependencies: int = Field(3, ge=0, le=20)

    # -- Idle Spaces cost nothing (issue 14 item 4; scheduler/service.py, budget.py) --
    # Seconds without traffic (open websockets and event streams count as traffic) before a
    # running Space is frozen (light sleep: cgroup freezer, 0 CPU, memory kept, a request
    # thaws it in ~0.1 s). An idle Gradio app spins ~6 % of a core on its own, so minutes,
    # not hours. Never later than the Space's sleep time; 0 = freeze only at sleep_time.
    freeze_after: int = Field(300, ge=0)
    # Memory the Spaces' containers may hold together (like "16g"; "0" = no budget): over
    # it, frozen Spaces are removed (deep sleep), least recently used first, so that most
    # wakes stay thaws. sleep_time still removes a Space's container after that long idle.
    spaces_memory_budget: str = "0"

    # Seconds an app gets to answer HTTP after its container started, when its README sets
    # no startup_duration_timeout.
    startup_timeout: int = 1800
    # The most any Space gets, whatever its README asks (Spaces accepts up to 6h): a start
    # holds a container, its memory and a deploy lock that long. Larger values are clamped,
    # with a warning in the build log.
    max_startup_timeout: int = 3600
    # Container starts (create + start, on the engine) run at once per scheduler process.
    # Only the start holds a slot: waiting for the app to answer does not, so Spaces that
    # never listen cannot delay another's deploy.
    deploy_slots: int = 2
    # An API client (no text/html) calling a sleeping Space waits this long for it to wake
    # before the proxy answers 503; browsers get a self-reloading page at once.
    wake_wait_timeout: float = 60.0
    # Runtime backend by name (podium.scheduler.BACKENDS): "docker" = this host's engine.
    scheduler_backend: str = "docker"
    # Containers carry this scope label; an install lists, adopts and removes only its own,
    # so two Podiums (or a test run beside a real one) can share one engine.
    instance: str = "podium"

    # -- Warm standby (issue 14 goal 1; scheduler/standby.py, scheduler/warm.py) --
    # Seconds after a deploy during which the Space keeps one frozen standby container
    # (its SDK already imported; memory, no CPU) that the next code-only push runs in,
    # skipping the seconds of `import gradio`. A Space not pushed again within them has it
    # removed. 0 = off (every deploy starts a new container). Single host (docker) only.
    standby_window: int = Field(900, ge=0)
    # Seconds a standby may take to import its SDK before it is given up.
    standby_warm_timeout: float = 120.0

    # -- Docker Swarm backend and image registry (issue 12; README "Run on a cluster") --
    # A swarm manager's engine, as a Docker host URL ("unix:///...", "tcp://...:2376");
    # empty = DOCKER_HOST or the local socket. Only PODIUM_SCHEDULER_BACKEND=swarm uses it.
    swarm_host: str = ""
    # The registry as the nodes reach it ("10.0.0.5:5000"): Spaces' images are pushed there
    # and services name them by digest, so every node runs exactly the built bytes.
    registry: str = ""
    # The same registry as the build host reaches it, when that differs (a registry on the
    # build host is reached through loopback, which Docker allows without TLS). Empty =
    # ``registry``.
    registry_push: str = ""
    # Driver options ("type=nfs,o=addr=10.0.0.5,rw,device=:/exports/podium") for the
    # ``local`` volume driver behind each Space's /data on a swarm. Empty = node-local
    # volumes, and a Space is pinned to the node its /data was created on.
    swarm_volume_options: str = ""

    # -- Builds on any node (issue 12 item 3; gitserver/tickets.py, gitserver/remote.py) --
    # The platform's URL as a build worker on another host reaches it ("http://10.0.0.5:8080",
    # the public port): set = the worker fetches each build's commit (and its LFS objects)
    # over git's smart HTTP with a one-build read ticket, because the Space repositories live
    # in the platform host's data dir, not the worker's. Empty = read data_dir/repos directly
    # (a worker on the platform host).
    build_source_url: str = ""

    # -- Prometheus metrics (podium.metrics) --
    # `podium api` serves GET /metrics on this separate listener, never on the public port:
    # only operators (a loopback Prometheus, or one on a network you choose) reach it.
    # Port 0 = no metrics listener.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    # Seconds between the scheduler's samples of its Space containers' CPU and memory (their
    # cgroup files, no engine call; off the request path). 0 = not sampled.
    metrics_usage_interval: float = Field(15.0, ge=0)

    # Password guessing (dashboard and API login, git basic auth): failed checks are counted
    # in Redis over a moving window of login_failure_window seconds, per account and per
    # client address; past either limit the caller gets 429 with Retry-After. Per account
    # is low (a person mistypes a few times; an online guesser gets 10 tries / 5 min, ~3000
    # a day) and costs a victim at most one window of lock-out, while tokens keep working;
    # per address is higher because several people share one NAT address.
    login_account_failures: int = Field(10, ge=1)
    login_address_failures: int = Field(30, ge=1)
    login_failure_window: int = Field(300, ge=1)
    # Dashboard sessions live in Redis (revoked by logout, password change, disabling the
    # user) and expire after this many seconds.
    session_ttl: int = Field(14 * 24 * 3600, ge=60)
    # The session cookie is honoured only for requests from the dashboard's own origin
    # (public_base_url). Other origins the dashboard is opened at, e.g.
    # ["http://127.0.0.1:8080"]; never a Space's host.
    dashboard_extra_origins: list[str] = []

    # --- HTTPS (TLS terminated by the nginx-lua data plane) ---------------------------
    # A PEM certificate (chain) and its key covering the domain and *.{domain} (every
    # Space's host), read by nginx at start; both or neither. Setting them makes the public
    # scheme https (tls_rule below, the one rule), so every origin, cookie (Secure) and
    # X-Forwarded-Proto follows. The python data plane refuses them (dev and tests only).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A plain-HTTP port on proxy_host whose every request is a 308 to the same host and
    # path on https (e.g. 80 beside public_port 443). 0 = none; only with TLS.
    http_port: int = Field(0, ge=0, le=65535)
    # Strict-Transport-Security max-age (seconds, includeSubDomains: the wildcard covers
    # every Space) sent on every https answer; 0 = no header. Browsers then refuse plain
    # HTTP to the domain for that long, so turn it on once the certificate is settled.
    hsts_max_age: int = Field(0, ge=0)

    # Bootstrap admin created on first start when no user exists.
    admin_user: str = "admin"
    admin_password: str = ""

    # Override where runners/ and templates/ are read from (default: shipped with podium).
    runners_dir: Path | None = None
    templates_dir: Path | None = None

    @model_validator(mode="after")
    def tls_rule(self) -> Settings:
        """TLS settings and the public scheme agree: a certificate and key together, and
        with them the scheme is https (an explicit other scheme is refused); a plain port
        to redirect only beside TLS. Without TLS the scheme is what is set (https behind a
        front that terminates TLS). No I/O: the files are checked when nginx starts."""
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise SettingsError("is needed with the other TLS setting",
                                setting=env_name(missing),
                                hint="set both PODIUM_TLS_CERT and PODIUM_TLS_KEY, or neither")
        if self.tls_cert is None:
            if self.http_port:
                raise SettingsError("redirects plain HTTP to https, so it needs TLS",
                                    setting=env_name("http_port"),
                                    hint="set PODIUM_TLS_CERT and PODIUM_TLS_KEY, or unset it")
            return self
        if "scheme" in self.model_fields_set and self.scheme != "https":
            raise SettingsError(f"is {self.scheme!r}, but TLS is on: the scheme is https",
                                setting=env_name("scheme"), hint="unset PODIUM_SCHEME")
        if self.http_port and self.http_port == self.public_port:
            raise SettingsError("is the https port too", setting=env_name("http_port"),
                                hint="pick another port (80 beside PODIUM_PUBLIC_PORT=443)")
        self.scheme = "https"
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def startup_timeout_for(self, requested: int | None) -> int:
        """Seconds a Space gets to start: its README's ``startup_duration_timeout`` (None:
        not set) or the default, never more than ``max_startup_timeout``."""
        wanted = self.startup_timeout if requested is None else requested
        return max(1, min(wanted, self.max_startup_timeout))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'podium.db'}"

    @property
    def secret_keys(self) -> list[str]:
        """PODIUM_SECRET_KEY as a rotation list: the first key is primary."""
        return [k.strip() for k in self.secret_key.split(",") if k.strip()]

    @property
    def secret_key_file(self) -> Path:
        """Where the platform key lives when PODIUM_SECRET_KEY is empty: the store's Cipher
        creates it, the proxy reads it, so both sign and check with one key."""
        return self.data_dir / "secret.key"

    @property
    def resolved_api_url(self) -> str:
        return (self.api_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def repos_dir(self) -> Path:
        return self.data_dir / "repos"

    def public_origin(self, host: str) -> str:
        """``{scheme}://{host}[:public_port]``, the port left out when it is the scheme's
        default: the one place the public port suffix is written, for the dashboard, every
        Space's own origin and the CSP pattern covering them."""
        default = {"http": 80, "https": 443}.get(self.scheme)
        port = "" if self.public_port == default else f":{self.public_port}"
        return f"{self.scheme}://{host}{port}"

    @property
    def public_base_url(self) -> str:
        return self.public_origin(self.domain)

    def space_origin(self, space_id: SpaceId) -> str:
        """``{scheme}://{owner}-{name}.{domain}[:port]``: the only origin a Space's code runs
        on (its public port is the dashboard's)."""
        return self.public_origin(space_id.hostname(self.domain))

    def to_env(self) -> dict[str, str]:
        """PODIUM_* variables from which ``Settings()`` rebuilds these settings in a child
        process (worker, git hook, proxy). Unset optionals are left out: their default is
        None there too."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is not None:
                env[env_name(name)] = (
                    value if isinstance(value, str) else json.dumps(value)
                )
        return env

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.repos_dir):
            path.mkdir(parents=True, exist_ok=True)
