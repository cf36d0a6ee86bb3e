"""Streamlit Spaces: the SDK pinned to sdk_version, ``streamlit run`` headless on app_port."""

from __future__ import annotations

from podium.builder.packs.base import BuildPack
from podium.spaces.stage import Sdk


class StreamlitBuildPack(BuildPack):
    sdk = Sdk.STREAMLIT
    template = "streamlit/Dockerfile.j2"
    installs_sdk = True
