"""Docker Spaces: the repository's own Dockerfile, built with the repository as context."""

from __future__ import annotations

from collections.abc import Collection

from podium.builder.packs.base import BuildPack, RenderContext, SpaceConfigLike
from podium.builder.packs.dockerfile import check_fetches
from podium.errors import ConfigError
from podium.netguard import AllowList
from podium.spaces.detect import Repo
from podium.spaces.stage import Sdk

DOCKERFILE = "Dockerfile"
# A Dockerfile larger than this is not a Dockerfile (and would be held in memory).
_MAX_BYTES = 1 << 20


class DockerBuildPack(BuildPack):
    sdk = Sdk.DOCKER
    # The user's Dockerfile wants the repository root as its context.
    own_context = True

    def detect(self, repo: Repo) -> str | None:
        return DOCKERFILE if repo.has(DOCKERFILE) else None

    def accepts(self, config: SpaceConfigLike, files: Collection[str]) -> bool:
        return config.sdk == Sdk.DOCKER and DOCKERFILE in files

    def render(self, context: RenderContext) -> str:
        if context.source_dir is None:
            raise ConfigError("the docker SDK needs the checkout to read its Dockerfile")
        path = context.source_dir / DOCKERFILE
        if path.is_symlink() or not path.is_file():
            raise ConfigError("sdk: docker needs a regular file named Dockerfile",
                              field="sdk", hint="add a Dockerfile at the repository root")
        if path.stat().st_size > _MAX_BYTES:
            raise ConfigError("the Dockerfile is larger than 1 MiB")
        text = path.read_text(encoding="utf-8", errors="replace")
        check_fetches(text, AllowList.parse(context.egress_allow))
        return text
