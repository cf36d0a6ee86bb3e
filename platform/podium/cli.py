"""The `podium` command (typer + rich). Thin: it builds Settings once and calls components."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from podium.config import Settings
from podium.errors import PodiumError

app = typer.Typer(no_args_is_help=True, help="Podium: git push an ML demo, get a live URL.")
base_image_app = typer.Typer(no_args_is_help=True, help="The local base image builds start from.")
app.add_typer(base_image_app, name="base-image")
console = Console(stderr=True)


def _fail(exc: PodiumError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc.message}")
    if exc.hint:
        console.print(f"[dim]hint:[/] {exc.hint}")
    return typer.Exit(exc.exit_code)


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
        raise _fail(exc) from exc
    console.print(f"base image ready: [bold]{ref}[/]")


def main() -> None:  # pragma: no cover - console entry for `python -m podium`
    sys.exit(app())
