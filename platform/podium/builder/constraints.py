"""Which SDK version gets which pip constraints.

Old SDK releases declare open upper bounds on their dependencies, so on today's index pip
picks versions they never ran with (numpy 2 under an old streamlit, huggingface_hub
without HfFolder under gradio 4). Each file in runners/<sdk>/constraints/ starts with a
``# applies: <specifier>`` line; every file whose specifier contains the Space's
sdk_version is added to the constraints pip runs with, after the SDK pin itself. Files in
runners/<sdk>/with-sdk/ carry the same line and name packages installed beside the SDK
(Hugging Face's ``spaces`` package for Gradio, as Spaces' own images have it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from podium.errors import ConfigError
from podium.spaces.stage import Sdk

_APPLIES_RE = re.compile(r"^#\s*applies:\s*(.+?)\s*$", re.MULTILINE)
DEFAULT_VERSION_FILE = "default-version.txt"


@dataclass(frozen=True)
class Constraints:
    sdk_pin: str            # e.g. "gradio==4.44.1"
    files: tuple[Path, ...]  # the range files that apply, in name order
    with_sdk: tuple[str, ...] = ()  # requirement lines installed in the SDK's layer

    def sdk_requirements(self) -> str:
        """sdk.txt: the pin and what goes with it."""
        return "".join(f"{line}\n" for line in (self.sdk_pin, *self.with_sdk))

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


def _applying(folder: Path, version: Version) -> tuple[Path, ...]:
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    return tuple(p for p in files if applies(p).contains(version, prereleases=True))


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def select(runners: Path, sdk: Sdk, version: str) -> Constraints:
    wanted = parse_version(version)
    chosen = _applying(runners / sdk.value / "constraints", wanted)
    extras = _applying(runners / sdk.value / "with-sdk", wanted)
    return Constraints(
        sdk_pin=f"{sdk.value}=={version}", files=chosen,
        with_sdk=tuple(line for p in extras for line in _requirement_lines(p)),
    )


@dataclass(frozen=True)
class SdkLine:
    """A line of a Space's requirements file that names the SDK."""

    file: str
    number: int              # 1-based, as an editor shows it
    text: str
    specifier: SpecifierSet

    @property
    def exact(self) -> str | None:
        """The version of a plain ``==X`` pin (what a Space means as its SDK version)."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            return specs[0].version
        return None

    def admits(self, version: str) -> bool:
        return self.specifier.contains(version, prereleases=True)


def requirement_lines(text: str) -> Iterator[tuple[int, str, Requirement]]:
    """The requirement lines of a requirements file, numbered from 1, as ``packaging`` reads
    them; comments, options (``-r``, ``--index-url``, ``-e``) and lines it rejects are
    skipped (pip judges those)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            yield number, line, Requirement(line)
        except InvalidRequirement:
            continue


def sdk_lines(file: str, text: str, sdk: Sdk) -> list[SdkLine]:
    """Lines of a requirements file naming ``sdk``; options, URLs and lines pip would
    reject are left to pip."""
    return [SdkLine(file, number, line, req.specifier)
            for number, line, req in requirement_lines(text)
            if canonicalize_name(req.name) == sdk.value and req.url is None]
