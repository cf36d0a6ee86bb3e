"""`podium up`: everything a single machine needs, in one command.

Starts (or connects to) Redis, migrates the database, creates the admin on first start,
runs the api / worker / proxy / scheduler processes under the Supervisor, and deploys a
demo Space from templates/ the first time, so a fresh install shows something live.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.names import SpaceId
from podium.services.redis_server import EmbeddedRedis
from podium.services.supervisor import Supervisor

DEMO_TEMPLATE = "gradio-hello"
DEMO_NAME = "hello"
ADMIN_PASSWORD_FILE = "admin-password"

Say = Callable[[str], None]


@dataclass
class Started:
    settings: Settings
    supervisor: Supervisor
    redis: EmbeddedRedis | None
    admin_password: str | None
    demo: SpaceId | None

    def stop(self) -> None:
        self.supervisor.stop()
        if self.redis is not None:
            self.redis.stop()


def _wait_http(url: str, timeout: float, supervisor: Supervisor, role: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # A liveness probe on loopback: with HTTPS the certificate names the public
            # domain, never 127.0.0.1, so it is not checked here.
            if httpx.get(url, timeout=2, verify=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if not supervisor.status().get(role, True):
            log = supervisor.settings.data_dir / "logs" / f"{role}.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise ServiceUnavailable(f"the {role} process died at start:\n{tail}")
        time.sleep(0.2)
    raise ServiceUnavailable(f"the {role} process did not answer at {url} in {timeout:.0f} s")


def ensure_admin_password(settings: Settings) -> tuple[Settings, str | None]:
    """The bootstrap admin's password: from settings, else generated once and kept in
    data_dir/admin-password (mode 0600) so a restart does not change it."""
    if settings.admin_password:
        return settings, None
    path = settings.data_dir / ADMIN_PASSWORD_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(12) + "\n")
    password = path.read_text().strip()
    return settings.model_copy(update={"admin_password": password}), password


def ensure_demo_space(settings: Settings, platform: object) -> SpaceId | None:
    """Create admin/hello from the gradio-hello template and queue its build, once."""
    from podium.controller.platform import Platform
    from podium.controller.push import on_push
    from podium.gitserver.repo import init_from_template
    from podium.resources import templates_dir
    from podium.store import create_space, list_spaces

    assert isinstance(platform, Platform)
    with platform.db.session() as session:
        _, total = list_spaces(session, limit=1)
    if total:
        return None
    space_id = SpaceId(settings.admin_user, DEMO_NAME)
    with platform.db.session() as session:
        create_space(session, space_id, sdk="gradio")
    commit = init_from_template(
        settings, space_id, templates_dir(settings) / DEMO_TEMPLATE, author=settings.admin_user
    )
    on_push(settings, space_id, "refs/heads/main", "0" * 40, commit, settings.admin_user)
    return space_id


def start_platform(settings: Settings, *, demo: bool = True, say: Say = print) -> Started:
    from podium.controller.platform import Platform
    from podium.store import ensure_admin

    settings.ensure_dirs()
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        settings = settings.model_copy(update={"redis_url": embedded.start()})
        say(f"embedded Redis on {settings.redis_url} (data in {embedded.data_dir})")
    settings, generated = ensure_admin_password(settings)
    platform = Platform(settings)
    supervisor = Supervisor(settings, {**os.environ, **settings.to_env()}, redis=embedded)
    try:
        platform.db.migrate()
        with platform.db.session() as session:
            created = ensure_admin(session, settings) is not None
        # Create data_dir/secret.key before the proxy starts: it checks access grants
        # with that key and would otherwise fall back to a per-process one the API never has.
        platform.cipher  # noqa: B018
        supervisor.start()
        _wait_http(f"http://{settings.api_host}:{settings.api_port}/api/health", 60,
                   supervisor, "api")
        _wait_http(f"{settings.scheme}://127.0.0.1:{settings.public_port}/api/health", 60,
                   supervisor, "proxy")
        demo_id = ensure_demo_space(settings, platform) if demo else None
        platform.close()  # inside the try: an interrupt here must still stop the children
    except BaseException:
        platform.close()
        supervisor.stop()
        if embedded is not None:
            embedded.stop()
        raise
    return Started(settings, supervisor, embedded, generated if created else None, demo_id)
