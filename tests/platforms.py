"""The whole platform as ``podium up`` starts it, for the tests that run it in a data dir of
their own (tests/e2e, the git walls, LFS, first minutes, HTTPS, the cluster): one way to
start it, stop it and leave no Space container behind, and one way to get a user's token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from podium.config import Settings
from podium.services.up import Started, start_platform


def user_token(settings: Settings, username: str, password: str | None = None,
               name: str = "test") -> str:
    """A write token of ``username``, made in the platform's store; with a ``password`` the
    user is created first."""
    from podium.controller.platform import Platform
    from podium.store import create_token, get_user
    from podium.store.users import create_user

    platform = Platform(settings)
    try:
        with platform.db.session() as session:
            user = (create_user(session, username, password) if password
                    else get_user(session, username))
            token, _ = create_token(session, user, name)
        return token
    finally:
        platform.close()


def remove_space_containers(client: Any, scope: str) -> None:
    """The platform's Spaces outlive its processes by design (reconcile adopts them): a test
    must not leave them running. Their data volumes go too: each run has a scope of its own,
    so nothing else uses them."""
    label = {"label": f"podium.scope={scope}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)


@contextmanager
def platform_running(settings: Settings, docker_client: Any, *,
                     demo: bool = False) -> Iterator[Started]:
    """``podium up`` with ``settings``; stopped at the end and, when ``docker_client`` is
    given, every container and volume of its ``instance`` removed."""
    started = start_platform(settings, demo=demo, say=lambda _m: None)
    try:
        yield started
    finally:
        started.stop()
        if docker_client is not None:
            remove_space_containers(docker_client, settings.instance)
