"""Static Spaces: the folder holding app_file served by python's http.server."""

from __future__ import annotations

from podium.builder.packs.base import BuildPack
from podium.spaces.detect import Repo
from podium.spaces.stage import Sdk

INDEX = "index.html"


class StaticBuildPack(BuildPack):
    sdk = Sdk.STATIC
    template = "static/Dockerfile.j2"

    def detect(self, repo: Repo) -> str | None:
        return INDEX if repo.has(INDEX) else None
