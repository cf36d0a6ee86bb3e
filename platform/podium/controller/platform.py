"""Per-process handles built once from Settings: database, Redis, route table, scheduler."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import docker
import redis

from podium.config import Settings
from podium.controller.secrets import secrets_provider
from podium.errors import ServiceUnavailable
from podium.proxy.routes import RouteTable
from podium.scheduler.service import Scheduler
from podium.store import Cipher, Database


class Platform:
    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ServiceUnavailable(
                "no Redis URL configured",
                hint="run `podium up` (it starts an embedded Redis) or set PODIUM_REDIS_URL",
            )
        self.settings = settings
        self.db = Database(settings)
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.routes = RouteTable(self.redis)
        # Imports queued or running per owner (controller.imports), under imports_lock.
        self.imports_in_flight: Counter[str] = Counter()
        self.imports_lock = threading.Lock()

    @cached_property
    def cipher(self) -> Cipher:
        return Cipher(self.settings)

    @cached_property
    def import_pool(self) -> ThreadPoolExecutor:
        """Imports from git URLs (controller.imports), a few at a time off the request path."""
        return ThreadPoolExecutor(max_workers=max(1, self.settings.import_concurrency),
                                  thread_name_prefix="podium-import")

    @cached_property
    def docker(self) -> docker.DockerClient:
        from podium.builder.engine import docker_client

        return docker_client()

    @cached_property
    def scheduler(self) -> Scheduler:
        from podium.scheduler import get_backend

        backend = get_backend(self.settings, client=self.docker)
        return Scheduler(
            self.settings, backend, self.routes, self.redis,
            secrets_provider=secrets_provider(self.db, self.cipher),
            on_change=self.record_stage,
        )

    def record_stage(self, space_key: str, stage: object, detail: str | None) -> None:
        """Scheduler → store: keep the Space's stage in step with what runs."""
        from podium.names import SpaceId
        from podium.spaces.stage import Stage
        from podium.store import find_space, set_stage

        owner, name = space_key.split("/", 1)
        with self.db.session() as session:
            space = find_space(session, SpaceId(owner, name))
            if space is not None:
                # detail is the scheduler's full account (exit code, OOM flag, last log
                # lines); its first line is the short message beside the stage badge.
                message = detail.splitlines()[0] if detail else None
                set_stage(session, space, Stage(str(stage)), message, detail)

    def stop_imports(self) -> None:
        """Drop the imports still queued (the next API start marks their Spaces failed);
        running ones end within their bounds. A later import gets a fresh pool."""
        pool = self.__dict__.pop("import_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        with self.imports_lock:
            self.imports_in_flight.clear()

    def close(self) -> None:
        self.stop_imports()
        self.redis.close()
        self.db.dispose()
