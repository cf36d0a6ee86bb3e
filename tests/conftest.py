"""Shared fixtures. Services are real: a redis-server child process and the machine's Docker
engine. When one is missing a test skips locally but FAILS under CI=true, so CI can never go
green by skipping what it was meant to test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.config import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO_ROOT = Path(__file__).resolve().parents[1]


def require(ok: bool, why: str) -> None:
    """Skip (locally) or fail (in CI) when a real dependency is missing."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Component tests run one component: pushes store without building and builds end
    # without deploying, unless a test wires a handler. tests/e2e runs the real wiring.
    s = Settings(
        data_dir=tmp_path / "data", redis_url="", database_url="", push_handler="",
        deploy_handler="",
    )
    s.ensure_dirs()
    return s


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the whole session (flushed per test by ``redis_conn``)."""
    import shutil

    from podium.services.redis_server import EmbeddedRedis

    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_conn(redis_url: str):  # type: ignore[no-untyped-def]
    import redis

    conn = redis.Redis.from_url(redis_url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def docker_client():  # type: ignore[no-untyped-def]
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        require(False, f"no Docker engine: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:  # type: ignore[no-untyped-def]
    """The offline base image (``podium base-image build``); tests build FROM it. Made
    here (debootstrap, about a minute) when missing, never rebuilt when present."""
    from podium.builder.base_image import ensure_base_image
    from podium.errors import PodiumError

    settings = Settings()
    try:
        return ensure_base_image(settings, docker_client, force=False, log=lambda _line: None)
    except PodiumError as exc:
        require(False, f"base image {settings.base_image} is missing and cannot be made: "
                f"{exc.message}")
        raise


def build_image(client, ref: str, files: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    """Build ``ref`` from in-memory files (a Dockerfile among them) on the real engine."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=ref, rm=True)
    return ref
