"""Streamlit Spaces: the SDK pinned to sdk_version, ``streamlit run`` headless on app_port."""

from __future__ import annotations

from podium.builder.packs.base import BuildPack
from podium.spaces.detect import Repo
from podium.spaces.stage import Sdk

# Streamlit Community Cloud's default entry file: an app by that name needs no import check.
DEFAULT_APP = "streamlit_app.py"


class StreamlitBuildPack(BuildPack):
    sdk = Sdk.STREAMLIT
    template = "streamlit/Dockerfile.j2"
    installs_sdk = True
    imports = "streamlit"

    def detect(self, repo: Repo) -> str | None:
        found = super().detect(repo)
        if found is None and repo.has(DEFAULT_APP) and repo.python_entry() is None:
            return DEFAULT_APP
        return found
