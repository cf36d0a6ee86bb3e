"""The typer app, the console, and the PodiumError → exit code mapping shared by commands."""

from __future__ import annotations

import typer
from rich.console import Console

from podium.errors import PodiumError

app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False,
    help="Podium: git push an ML demo, get a live URL.",
)
console = Console(stderr=True)


def fail(exc: PodiumError) -> typer.Exit:
    """Print a PodiumError for a person and turn it into the CLI's exit code."""
    console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
    if exc.hint:
        console.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
    return typer.Exit(exc.exit_code)
