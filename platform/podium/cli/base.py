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
    """Print a PodiumError for a person and turn it into the CLI's exit code.

    soft_wrap: rich would otherwise break lines at its width (80 columns when stderr is not a
    terminal), inside paths and phrases, so a script grepping the error ("not empty") or a
    person pasting the path got pieces; the terminal still wraps long lines for the eye."""
    console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
    if exc.hint:
        console.print(f"[dim]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)
