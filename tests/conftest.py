"""Shared fixtures. Services are real: a redis-server child process and the machine's Docker
engine. When one is missing a test skips locally but FAILS under CI=true, so CI can never go
green by skipping what it was meant to test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from podium.config import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO_ROOT = Path(__file__).resolve().parents[1]
# No warm standby (scheduler/warm.py) unless a test asks for one: it is one more container
# per Space, started in a thread after a deploy, which component tests counting a Space's
# containers do not expect. tests/e2e's platform turns it on (test_dev_mode.py tests it).
os.environ.setdefault("PODIUM_STANDBY_WINDOW", "0")


def require(ok: bool, why: str) -> None:
    """Skip (locally) or fail (in CI) when a real dependency is missing."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    # Component tests run one component: pushes store without building unless a test wires
    # a handler, and builds leave their deploy request for a scheduler that only runs where
    # a test starts one. tests/e2e runs the real wiring.
    s = Settings(data_dir=tmp_path / "data", redis_url="", database_url="", push_handler="")
    s.ensure_dirs()
    yield s
    release_quota_mounts(s.data_dir)


def release_quota_mounts(data_dir: Path) -> None:
    """Unmount the Spaces' quota images a test left under its data dir (a Space not deleted
    at the end): pytest deletes old tmp dirs, and a mount there would outlive them."""
    from podium.scheduler.storage import detach, mounted_from, unmount

    for target, image in mounted_from(data_dir).items():
        unmount(target)
        detach(image)


@pytest.fixture(scope="session", autouse=True)
def no_quota_mount_outlives_the_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Tests that run the whole platform in a data dir of their own (``podium up`` in a
    fixture) leave their Spaces' /data images mounted when they stop it, as a real stop
    does; unmount all of them under this session's tmp dirs at the end."""
    yield
    release_quota_mounts(tmp_path_factory.getbasetemp())


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


def _postgres_bindir() -> Path | None:
    """Debian keeps initdb off PATH, under /usr/lib/postgresql/<version>/bin."""
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (trust auth on 127.0.0.1 only), with an
    empty ``podium`` database; the URL is SQLAlchemy's ``postgresql+psycopg://``."""
    with postgres_server() as url:
        yield url


@contextmanager
def postgres_server(listen: str = "127.0.0.1", clients: str = "") -> Iterator[str]:
    """A throwaway PostgreSQL server listening on ``listen`` (trust auth), with an empty
    ``podium`` database; ``clients``: a CIDR also let in (a test network's hosts)."""
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _postgres_bindir()
    require(bindir is not None, "PostgreSQL server binaries (initdb) are not installed")
    assert bindir is not None
    as_user: list[str] = []
    # Not under pytest's tmp_path: that is private to root and the server's user must reach it.
    # Short, too: the socket path must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="podium-pg-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root; the Debian package creates this system user.
        names = {entry.pw_name: entry for entry in pwd.getpwall()}
        owner = names.get("postgres") or names["nobody"]
        as_user = ["runuser", "-u", owner.pw_name, "--"]
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    with socket.socket() as probe:
        probe.bind((listen, 0))
        port = probe.getsockname()[1]

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{server_log}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "podium", "--auth=trust",
            "-E", "UTF8", "--no-sync")
        if clients:
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {clients} trust\n")
        # fsync off: the data is thrown away at the end, and durability is not under test.
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
            f"-k {root} -p {port} -c listen_addresses={listen} -c fsync=off", "start")
        try:
            run(str(bindir / "createdb"), "-h", listen, "-p", str(port), "-U", "podium",
                "podium")
            yield f"postgresql+psycopg://podium@{listen}:{port}/podium"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
