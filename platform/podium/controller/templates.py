"""Starter Spaces offered by "New Space" and `podium create --template`: the folders of
``templates/`` whose README front matter validates."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from podium.builder.packs import PACKS
from podium.config import Settings
from podium.errors import NotFound, PodiumError
from podium.resources import templates_dir
from podium.spaces.config import SpaceConfig, load_space_config

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    path: Path
    config: SpaceConfig


def list_templates(settings: Settings) -> list[Template]:
    """The folders of templates/ whose README validates, by name; none if it is missing."""
    root = templates_dir(settings)
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found = []
    for path in (p for p in folders if not p.name.startswith(".")):
        try:
            found.append(Template(path.name, path, load_space_config(path, PACKS)))
        except (PodiumError, OSError) as exc:  # a broken template must not hide the others
            log.warning("template %s skipped: %s", path.name, exc)
    return found


def get_template(settings: Settings, name: str) -> Template:
    """Only names listed here resolve, so a template name can never walk out of templates/."""
    for template in list_templates(settings):
        if template.name == name:
            return template
    available = ", ".join(t.name for t in list_templates(settings))
    raise NotFound(f"no template {name!r}", hint=f"available: {available}")
