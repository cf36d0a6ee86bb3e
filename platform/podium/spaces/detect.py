"""Guess a Space's SDK from its files when README.md has no front matter.

Hugging Face requires front matter; Podium is friendlier and looks at the repository the
way repo2docker does: an ordered list of checks, the first one that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from podium.spaces.stage import Sdk

_IMPORTS = {
    Sdk.GRADIO: re.compile(r"^\s*(?:import|from)\s+gradio\b", re.MULTILINE),
    Sdk.STREAMLIT: re.compile(r"^\s*(?:import|from)\s+streamlit\b", re.MULTILINE),
}
# The files people name their entry point, most likely first; other top-level .py files
# are looked at afterwards in name order.
_PREFERRED_PY = ("app.py", "main.py", "streamlit_app.py")
# A repository with hundreds of scripts is not worth reading entirely to guess an SDK.
_MAX_PY_FILES = 50


def _python_candidates(top_level: set[str]) -> list[str]:
    preferred = [name for name in _PREFERRED_PY if name in top_level]
    others = sorted(name for name in top_level if name.endswith(".py") and name not in preferred)
    return (preferred + others)[:_MAX_PY_FILES]


def detect_sdk(files: Iterable[str], read: Callable[[str], str]) -> tuple[Sdk, str] | None:
    """The SDK and app file of a repository without front matter, or None.

    ``files`` are repository-relative POSIX paths; only top-level files are considered,
    since an app in a subfolder needs ``app_file`` in the front matter anyway. ``read``
    returns a file's text; files it cannot read are skipped.
    """
    top_level = {f for f in (p.removeprefix("./") for p in files) if f and "/" not in f}
    if "Dockerfile" in top_level:
        return Sdk.DOCKER, "Dockerfile"
    for name in _python_candidates(top_level):
        try:
            source = read(name)
        except (OSError, UnicodeDecodeError, KeyError):
            continue
        for sdk, pattern in _IMPORTS.items():
            if pattern.search(source):
                return sdk, name
    if "streamlit_app.py" in top_level:  # Streamlit Community Cloud's default name
        return Sdk.STREAMLIT, "streamlit_app.py"
    if "index.html" in top_level:
        return Sdk.STATIC, "index.html"
    return None
