"""Guess a Space's SDK from its files when README.md has no front matter.

Hugging Face requires front matter; Podium is friendlier and looks at the repository the
way repo2docker does: an ordered list of detectors, the first whose ``detect`` finds an app
wins. The detectors are the build packs (podium.builder.packs.PACKS, the one place the order
is written); this module holds only the view of the repository they look at, so the Space
model still knows nothing of Docker or of the packs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Protocol

from podium.spaces.stage import Sdk

# The files people name their entry point, most likely first; other top-level .py files
# are looked at afterwards in name order.
_PREFERRED_PY = ("app.py", "main.py", "streamlit_app.py")
# A repository with hundreds of scripts is not worth reading entirely to guess an SDK.
_MAX_PY_FILES = 50


@cache
def _import_pattern(module: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*(?:import|from)\s+{re.escape(module)}\b", re.MULTILINE)


class Repo:
    """The top-level files of a repository without front matter, as detectors see them.

    ``files`` are repository-relative POSIX paths; only top-level files count, since an app
    in a subfolder needs ``app_file`` in the front matter anyway. ``read`` returns a file's
    text; files it cannot read are skipped. ``sdk_modules`` are the Python SDKs' import
    names in detection order."""

    def __init__(
        self, files: Iterable[str], read: Callable[[str], str], sdk_modules: Sequence[str],
    ) -> None:
        self.top_level = {f for f in (p.removeprefix("./") for p in files) if f and "/" not in f}
        self._read = read
        self._modules = tuple(sdk_modules)
        self._entry: tuple[str, str] | None | bool = False  # False: not looked for yet

    def has(self, name: str) -> bool:
        return name in self.top_level

    def _python_candidates(self) -> list[str]:
        preferred = [name for name in _PREFERRED_PY if name in self.top_level]
        others = sorted(n for n in self.top_level if n.endswith(".py") and n not in preferred)
        return (preferred + others)[:_MAX_PY_FILES]

    def python_entry(self) -> tuple[str, str] | None:
        """(file, module): the most likely entry file that imports a Python SDK, and the
        SDK it imports. The file decides before the SDK: an app.py importing streamlit wins
        over a helper importing gradio, whichever pack asks first."""
        if self._entry is False:
            self._entry = self._find_entry()
        return self._entry  # type: ignore[return-value]

    def _find_entry(self) -> tuple[str, str] | None:
        for name in self._python_candidates():
            try:
                source = self._read(name)
            except (OSError, UnicodeDecodeError, KeyError):
                continue
            for module in self._modules:
                if _import_pattern(module).search(source):
                    return name, module
        return None


class Detector(Protocol):
    """What podium.builder.packs.BuildPack offers detection (repo2docker's ``detect``)."""

    sdk: Sdk
    # The module a Python SDK's app imports (None for packs that are not Python SDKs).
    imports: str | None

    def detect(self, repo: Repo) -> str | None:
        """The app file this pack would serve the repository from, or None."""


def detect_sdk(
    files: Iterable[str], read: Callable[[str], str], detectors: Sequence[Detector],
) -> tuple[Sdk, str] | None:
    """The SDK and app file of a repository without front matter, or None: the first of
    ``detectors`` (in their order) that finds an app."""
    repo = Repo(files, read, [d.imports for d in detectors if d.imports])
    for detector in detectors:
        app_file = detector.detect(repo)
        if app_file is not None:
            return detector.sdk, app_file
    return None
