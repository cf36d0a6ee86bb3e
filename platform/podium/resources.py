"""Where runners/ and templates/ are found at run time: a settings override, else the copy
shipped inside the wheel (podium/_data/), else the repository checkout (editable install)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from podium.config import Settings
from podium.errors import ServiceUnavailable

Kind = Literal["runners", "templates"]


def resource_dir(kind: Kind, settings: Settings | None = None) -> Path:
    override = None
    if settings is not None:
        override = settings.runners_dir if kind == "runners" else settings.templates_dir
    if override is not None:
        return override
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / kind, here.parents[1] / kind):
        if candidate.is_dir():
            return candidate
    raise ServiceUnavailable(
        f"cannot find Podium's {kind}/ directory",
        hint=f"set PODIUM_{kind.upper()}_DIR to its location",
    )


def runners_dir(settings: Settings | None = None) -> Path:
    return resource_dir("runners", settings)


def templates_dir(settings: Settings | None = None) -> Path:
    return resource_dir("templates", settings)
