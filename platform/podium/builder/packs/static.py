"""Static Spaces: the folder holding app_file served by python's http.server."""

from __future__ import annotations

from podium.builder.packs.base import BuildPack
from podium.spaces.stage import Sdk


class StaticBuildPack(BuildPack):
    sdk = Sdk.STATIC
    template = "static/Dockerfile.j2"
