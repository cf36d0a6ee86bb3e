"""Which SDK version a Space gets: README's sdk_version, else an exact pin of the SDK in
its requirements files (what Spaces users write when they forget the front matter), else
the runner's default. When README and a requirements line disagree, README wins and the
line is left out of the install, so pip does not fail on two pins of one package."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from podium.builder import constraints
from podium.builder.packs import BuildPack
from podium.builder.packs.base import PRE_REQUIREMENTS_FILE, REQUIREMENTS_FILE
from podium.spaces.config import SpaceConfig
from podium.spaces.stage import BuildPhase

# The Python every runner image has (Debian bookworm's); other python_version values are
# accepted and reported, as Spaces' own images also differ from what was asked.
RUNTIME_PYTHON = "3.11"
# In the order Spaces installs them: a pin in the first one found decides.
DEPENDENCY_FILES = (PRE_REQUIREMENTS_FILE, REQUIREMENTS_FILE)

BuildLog = Callable[[BuildPhase, str], None]


@dataclass(frozen=True)
class SdkChoice:
    version: str
    # Requirements files rewritten without the lines that contradict sdk_version.
    rewritten: dict[str, bytes] = field(default_factory=dict)


def choose_sdk(
    pack: BuildPack, config: SpaceConfig, runners: Path, source_dir: Path, log: BuildLog,
) -> SdkChoice:
    wanted = config.python_version.split(".")[:2] if config.python_version else []
    if wanted and wanted != RUNTIME_PYTHON.split(".")[: len(wanted)]:
        log(BuildPhase.CLONE, f"note: python_version {config.python_version} is not "
            f"available; the image runs Python {RUNTIME_PYTHON}")
    if not pack.installs_sdk:
        return SdkChoice(config.sdk_version or "")
    texts = _dependency_texts(source_dir)
    lines = [line for name, text in texts.items()
             for line in constraints.sdk_lines(name, text, pack.sdk)]
    sdk = pack.sdk.value
    if config.sdk_version:
        constraints.parse_version(config.sdk_version)
        return SdkChoice(config.sdk_version, _drop_contradicting(
            texts, lines, config.sdk_version, sdk, log))
    pinned = next((line for line in lines if line.exact), None)
    if pinned is not None and pinned.exact is not None:
        constraints.parse_version(pinned.exact)
        log(BuildPhase.CLONE, f"no sdk_version in README.md: using {sdk} {pinned.exact}, "
            f"pinned in {pinned.file} line {pinned.number}")
        return SdkChoice(pinned.exact)
    version = constraints.default_version(runners, pack.sdk)
    log(BuildPhase.CLONE, f"no sdk_version in README.md: using {sdk} {version}")
    return SdkChoice(version)


def _dependency_texts(source_dir: Path) -> dict[str, str]:
    out = {}
    for name in DEPENDENCY_FILES:
        path = source_dir / name
        if path.is_file() and not path.is_symlink():
            out[name] = path.read_text(errors="replace")
    return out


def _drop_contradicting(
    texts: dict[str, str], lines: list[constraints.SdkLine], version: str, sdk: str,
    log: BuildLog,
) -> dict[str, bytes]:
    dropped: dict[str, set[int]] = {}
    for line in lines:
        if not line.admits(version):
            log(BuildPhase.CLONE, f"note: sdk_version {version} in README.md wins over "
                f"{line.text!r} ({line.file} line {line.number}); that line is not installed")
            dropped.setdefault(line.file, set()).add(line.number)
    return {
        name: "".join(
            f"{row}\n" for number, row in enumerate(texts[name].splitlines(), start=1)
            if number not in numbers
        ).encode()
        for name, numbers in dropped.items()
    }
