"""Ordered build packs: the first whose ``detect`` matches a Space builds it."""

from __future__ import annotations

from collections.abc import Collection

from podium.builder.packs.base import BuildPack, RenderContext, SpaceConfigLike
from podium.builder.packs.docker import DockerBuildPack
from podium.builder.packs.gradio import GradioBuildPack
from podium.builder.packs.static import StaticBuildPack
from podium.builder.packs.streamlit import StreamlitBuildPack
from podium.errors import ConfigError

# Docker first: a Space that brings its own Dockerfile and says so is built as written.
PACKS: tuple[BuildPack, ...] = (
    DockerBuildPack(), GradioBuildPack(), StreamlitBuildPack(), StaticBuildPack(),
)


def pick_pack(
    config: SpaceConfigLike, files: Collection[str], packs: tuple[BuildPack, ...] = PACKS,
) -> BuildPack:
    for pack in packs:
        if pack.detect(config, files):
            return pack
    hint = "add a Dockerfile at the repository root" if config.sdk == "docker" else None
    raise ConfigError(f"no build pack can build an sdk: {config.sdk} Space", field="sdk",
                      hint=hint)


__all__ = ["PACKS", "BuildPack", "RenderContext", "SpaceConfigLike", "pick_pack"]
