"""Which SDK version gets which pip constraints.

Old SDK releases declare open upper bounds on their dependencies, so on today's index pip
picks versions they never ran with (numpy 2 under an old streamlit, huggingface_hub
without HfFolder under gradio 4). Each file in runners/<sdk>/constraints/ starts with a
``# applies: <specifier>`` line; every file whose specifier contains the Space's
sdk_version is added to the constraints pip runs with, after the SDK pin itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from podium.errors import ConfigError
from podium.spaces.stage import Sdk

_APPLIES_RE = re.compile(r"^#\s*applies:\s*(.+?)\s*$", re.MULTILINE)
DEFAULT_VERSION_FILE = "default-version.txt"


@dataclass(frozen=True)
class Constraints:
    sdk_pin: str            # e.g. "gradio==4.44.1"
    files: tuple[Path, ...]  # the range files that apply, in name order

    def text(self) -> str:
        """The constraints file: the pin, then each applicable range file verbatim."""
        parts = [f"# the Space's sdk_version\n{self.sdk_pin}\n"]
        parts += [f"# from {p.parent.parent.name}/constraints/{p.name}\n{p.read_text()}"
                  for p in self.files]
        return "\n".join(parts)


def default_version(runners: Path, sdk: Sdk) -> str:
    return (runners / sdk.value / DEFAULT_VERSION_FILE).read_text().strip()


def parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ConfigError(f"{text!r} is not a version number", field="sdk_version",
                          hint="write the SDK's version as on PyPI, e.g. 5.49.1") from None


def applies(path: Path) -> SpecifierSet:
    match = _APPLIES_RE.search(path.read_text())
    if match is None:
        raise ValueError(f"{path} has no '# applies: <specifier>' line")
    try:
        return SpecifierSet(match.group(1))
    except InvalidSpecifier as exc:
        raise ValueError(f"{path}: {exc}") from exc


def select(runners: Path, sdk: Sdk, version: str) -> Constraints:
    wanted = parse_version(version)
    folder = runners / sdk.value / "constraints"
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    chosen = tuple(p for p in files if applies(p).contains(wanted, prereleases=True))
    return Constraints(sdk_pin=f"{sdk.value}=={version}", files=chosen)
