"""Server roles: `podium up` runs them all; `api`, `worker`, `proxy`, `scheduler` run one
each (compose services, or several hosts)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from podium.builder.retention import Reclaimed
from podium.config import Settings
from podium.controller.diskuse import human_bytes
from podium.controller.urls import space_urls
from podium.errors import PodiumError
from podium.services.up import Started

from .base import app, console, fail

base_image_app = typer.Typer(no_args_is_help=True, help="The local base image builds start from.")
app.add_typer(base_image_app, name="base-image")


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Deploy a demo Space on first start.")] = True,
) -> None:
    """Start Podium on this machine: Redis, API + dashboard + git, worker, proxy, scheduler."""
    from podium.services.up import start_platform

    # SIGTERM (systemd, docker stop, kill) shuts down like Ctrl-C, even mid-start: the
    # interrupt unwinds through start_platform's and watch()'s cleanup.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = Settings()
    try:
        started = start_platform(settings, demo=demo, say=lambda m: console.print(m))
    except PodiumError as exc:
        raise fail(exc) from exc
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    try:  # from here on, an interrupt anywhere must still stop what was started
        _announce(started)
        started.supervisor.watch()
    except KeyboardInterrupt:
        pass
    finally:
        # A second SIGTERM while children are stopping must not cut the cleanup short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started.stop()


def _announce(started: Started) -> None:
    s = started.settings
    console.print(f"[bold green]Podium is up[/] at [bold]{s.public_base_url}/[/]")
    if started.admin_password:
        console.print(f"admin user: [bold]{s.admin_user}[/]  password: [bold]"
                      f"{started.admin_password}[/] (kept in {s.data_dir}/admin-password)")
    if started.demo:
        console.print(f"demo Space {started.demo} is building: "
                      f"{space_urls(s, started.demo)['host']}  "
                      f"(logs: {s.public_base_url}/api/spaces/{started.demo}/logs/build)")
    console.print(f"process logs in {s.data_dir}/logs; Ctrl-C stops everything")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def api() -> None:
    """Run the API + dashboard + git server process."""
    import uvicorn

    from podium.metrics.exporter import serve_metrics
    from podium.web import create_app

    settings = Settings()
    serve_metrics(settings)  # GET /metrics on its own (operators') listener, in a thread
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level="info", proxy_headers=True, forwarded_allow_ips="127.0.0.1")


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
    name: Annotated[str | None, typer.Option(
        help="worker name, shown in each build's log (default: rq's random one)")] = None,
) -> None:
    """Run a build worker (rq) on the build queue."""
    from podium.builds.worker import run_worker

    try:
        run_worker(Settings(), burst=burst, name=name)
    except PodiumError as exc:
        raise fail(exc) from exc


@app.command()
def proxy(
    workers: Annotated[int | None, typer.Option(
        help="worker processes (nginx's, or uvicorn's with the python data plane); "
             "default PODIUM_PROXY_WORKERS")] = None,
) -> None:
    """Run the proxy: the public door for Spaces, the dashboard, the API and git."""
    from podium.proxy.server import serve

    settings = Settings()
    try:
        serve(settings, workers=workers or settings.proxy_workers)
    except PodiumError as exc:
        raise fail(exc) from exc


@app.command()
def scheduler() -> None:
    """Run the scheduler loop: reconcile with the engine, deploy finished builds, wake on
    request, sleep idle Spaces."""
    from podium.controller.deployer import Deployer
    from podium.controller.platform import Platform
    from podium.scheduler.loop import run_forever

    platform = Platform(Settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        # One Platform for the process: every deploy uses its engine client, Redis and
        # database rather than opening its own.
        run_forever(platform.scheduler, stop, deploys=Deployer(platform), reconciled=lambda r: (
            console.print(f"reconciled: adopted {len(r.adopted)}, removed {len(r.removed)}")))
    except KeyboardInterrupt:
        stop.set()
    finally:
        platform.close()


@base_image_app.command("build")
def base_image_build(
    if_missing: Annotated[bool, typer.Option(help="Do nothing when the image exists.")] = False,
    offline: Annotated[
        bool, typer.Option(help="Never try a registry; always debootstrap.")
    ] = False,
) -> None:
    """Make the Python base image without any container registry (debootstrap)."""
    from podium.builder.base_image import ensure_base_image
    from podium.builder.engine import docker_client

    settings = Settings()
    try:
        ref = ensure_base_image(
            settings, docker_client(), force=not if_missing, offline=offline,
            log=lambda line: console.print(line, markup=False, highlight=False),
        )
    except PodiumError as exc:
        raise fail(exc) from exc
    console.print(f"base image ready: [bold]{ref}[/]")


@app.command()
def gc() -> None:
    """Remove old images now: per Space all but the running one and the previous
    PODIUM_IMAGE_RETENTION, then the dangling Space images rebuilds left (never another
    program's images or build cache on the same engine)."""
    from podium.builder.engine import docker_client
    from podium.builds.retention import collect
    from podium.store.db import Database

    settings = Settings()
    db = Database(settings)
    try:
        reclaimed = collect(settings, db, docker_client())
    except PodiumError as exc:
        raise fail(exc) from exc
    finally:
        db.dispose()
    for ref in reclaimed.images:
        console.print(f"removed {ref}", markup=False, highlight=False)
    console.print(gc_summary(reclaimed), markup=False, highlight=False, soft_wrap=True)


def gc_summary(reclaimed: Reclaimed) -> str:
    """Two numbers, because images share layers: the disk the engine got back (layers still
    used by kept images stay) and what the removed images listed (each with its shared
    layers). One alone read "reclaimed 0.0 MB (18 images)" for 18 code-only rebuilds."""
    return (f"reclaimed {human_bytes(reclaimed.bytes)} on disk (docker system df, before - "
            f"after); removed {len(reclaimed.images)} images listed at "
            f"{human_bytes(reclaimed.image_bytes)} together (shared layers counted in each)")


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="the archive to write (.tar, or .tar.gz)")],
    with_data: Annotated[bool, typer.Option(
        "--with-data", help="also copy every Space's /data")] = False,
) -> None:
    """Write one archive of this Podium while it runs: database, repositories with their
    LFS objects, the secret key, a manifest, and with --with-data every Space's /data."""
    from podium.backup import write_backup

    settings = Settings()
    try:
        report = write_backup(settings, file.resolve(), with_data=with_data)
    except PodiumError as exc:
        raise fail(exc) from exc
    counts = report.manifest.counts
    console.print(f"wrote {report.path} ({report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s): "
                  f"{counts['spaces']} Spaces, {counts['repositories']} repositories, "
                  f"{counts['lfs_objects']} LFS objects, {counts['data_volumes']} /data, "
                  f"{counts['users']} users", highlight=False, soft_wrap=True)
    if report.manifest.secret_key == "environment":
        console.print("secrets are encrypted with PODIUM_SECRET_KEY, which is not in the "
                      "archive: keep that key with it", highlight=False, soft_wrap=True)


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="an archive made by `podium backup`")],
) -> None:
    """Restore a backup into an empty PODIUM_DATA_DIR (and empty database); `podium up`
    then rebuilds and deploys every Space."""
    from podium.backup import restore_backup

    settings = Settings()
    try:
        report = restore_backup(settings, file.resolve())
    except PodiumError as exc:
        raise fail(exc) from exc
    handed = report.handover
    console.print(f"restored {len(report.manifest.spaces)} Spaces and "
                  f"{report.manifest.counts['users']} users into {settings.data_dir} in "
                  f"{report.seconds:.1f} s; {len(handed.rebuilding)} Spaces are rebuilt and "
                  "deployed when the platform starts (`podium up`)",
                  highlight=False, soft_wrap=True)
