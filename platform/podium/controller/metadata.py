"""A Space's config at a commit, read straight from its bare repo (no checkout), and the
card fields (title, emoji, colours...) the store keeps for the gallery."""

from __future__ import annotations

from typing import Any

from podium.builder.packs import PACKS
from podium.config import Settings
from podium.gitserver.repo import read_file, read_tree
from podium.names import SpaceId
from podium.spaces.config import SpaceConfig, load_space_config_from_files

# Files whose content detection may read when README has no front matter.
_READ_SUFFIXES = (".py", ".md", "Dockerfile", ".html")
_MAX_READ = 256 * 1024


def config_at(settings: Settings, space_id: SpaceId, commit: str) -> SpaceConfig:
    """Raises ConfigError / NoAppFile exactly as the build would."""
    files: dict[str, bytes | str] = {}
    for entry in read_tree(settings, space_id, commit):
        if entry.type != "blob":
            continue
        small = entry.size is not None and entry.size <= _MAX_READ
        if small and entry.path.endswith(_READ_SUFFIXES) and entry.path.count("/") <= 1:
            files[entry.path] = read_file(settings, space_id, commit, entry.path)
        else:
            files[entry.path] = b""
    return load_space_config_from_files(files, PACKS)


def card_fields(config: SpaceConfig) -> dict[str, Any]:
    return {
        "sdk": config.sdk,
        "title": config.title,
        "emoji": config.emoji,
        "color_from": config.color_from,
        "color_to": config.color_to,
        "short_description": config.short_description,
        "pinned": config.pinned,
    }
