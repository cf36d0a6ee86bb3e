"""Ordered build packs: the one place the SDK detection order is written. For a README
without front matter the first pack whose ``detect`` finds an app decides the SDK
(podium.spaces.detect); a Space whose config names its SDK is built by the first pack that
``accepts`` it."""

from __future__ import annotations

from collections.abc import Collection

from podium.builder.packs.base import BuildPack, RenderContext, SpaceConfigLike
from podium.builder.packs.docker import DockerBuildPack
from podium.builder.packs.gradio import GradioBuildPack
from podium.builder.packs.static import StaticBuildPack
from podium.builder.packs.streamlit import StreamlitBuildPack
from podium.errors import ConfigError

# Docker first: a Space that brings its own Dockerfile is built as written; Gradio before
# Streamlit when one entry file imports both; static last: an index.html counts only when
# no SDK app was found.
PACKS: tuple[BuildPack, ...] = (
    DockerBuildPack(), GradioBuildPack(), StreamlitBuildPack(), StaticBuildPack(),
)


def pick_pack(
    config: SpaceConfigLike, files: Collection[str], packs: tuple[BuildPack, ...] = PACKS,
) -> BuildPack:
    for pack in packs:
        if pack.accepts(config, files):
            return pack
    hint = "add a Dockerfile at the repository root" if config.sdk == "docker" else None
    raise ConfigError(f"no build pack can build an sdk: {config.sdk} Space", field="sdk",
                      hint=hint)


__all__ = ["PACKS", "BuildPack", "RenderContext", "SpaceConfigLike", "pick_pack"]
