"""Gradio Spaces: the SDK pinned to sdk_version, ``python app_file`` on 0.0.0.0:app_port."""

from __future__ import annotations

from podium.builder.packs.base import BuildPack
from podium.spaces.stage import Sdk


class GradioBuildPack(BuildPack):
    sdk = Sdk.GRADIO
    template = "gradio/Dockerfile.j2"
    installs_sdk = True
    imports = "gradio"
