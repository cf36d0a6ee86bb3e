"""Reading the classic builder's output: which BuildPhase a line belongs to, how many
layers came from cache, and why a failed build failed, in one or two lines a user can act
on (pip's and apt's own words, not "returned a non-zero code: 1")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from podium.spaces.stage import BuildPhase

STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_PHASE_MARK_RE = re.compile(r"^#\s*phase:\s*(\w+)\s*$")
_INSTRUCTION_RE = re.compile(r"^\s*([A-Za-z]+)\s*(.*)$")
_USING_CACHE = "---> Using cache"
_CODE_COPY_RE = re.compile(r"^(COPY|ADD)\s+(--\S+\s+)*\.(/)?\s", re.IGNORECASE)


def dockerfile_steps(text: str) -> list[tuple[str, BuildPhase | None]]:
    """Instructions of a Dockerfile as the classic builder counts them (continuations
    joined, comments dropped), each with the phase of the nearest ``# phase:`` mark."""
    steps: list[tuple[str, BuildPhase | None]] = []
    phase: BuildPhase | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending:
            mark = _PHASE_MARK_RE.match(line)
            if mark:
                phase = BuildPhase(mark.group(1))
                continue
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        steps.append(((pending + line).strip(), phase))
        pending = ""
    if pending.strip():
        steps.append((pending.strip(), phase))
    return steps


def step_phases(text: str) -> list[BuildPhase]:
    """The phase of each step. Unmarked Dockerfiles (docker Spaces) are dependencies until
    the first ``COPY . ...``/``ADD . ...``, code afterwards."""
    steps = dockerfile_steps(text)
    marked = any(phase is not None for _, phase in steps)
    phases: list[BuildPhase] = []
    current = BuildPhase.DEPENDENCIES
    for instruction, phase in steps:
        if marked:
            current = phase or current
        elif _CODE_COPY_RE.match(instruction + " "):
            current = BuildPhase.CODE
        phases.append(current)
    return phases


@dataclass
class PhaseTracker:
    """Feed it output lines; it knows the current phase, step and the step's output."""

    phases: list[BuildPhase]
    phase: BuildPhase = BuildPhase.DEPENDENCIES
    instruction: str | None = None
    cached_layers: int = 0
    step_lines: list[str] = field(default_factory=list)

    def feed(self, line: str) -> bool:
        """Take one line; True when it moved the build into a new phase."""
        before = self.phase
        match = STEP_RE.match(line.strip())
        if match:
            index = int(match.group(1)) - 1
            self.instruction = match.group(3)
            self.step_lines = []
            # Steps past the Dockerfile's own (the LABEL the API appends) are the export.
            self.phase = self.phases[index] if index < len(self.phases) else BuildPhase.EXPORT
        elif line.startswith(("Successfully built", "Successfully tagged")):
            self.phase = BuildPhase.EXPORT
        else:
            if _USING_CACHE in line:
                self.cached_layers += 1
            self.step_lines.append(line)
        return self.phase != before


_SOURCES = {
    "pre-requirements.txt": "pre-requirements.txt",
    "requirements.txt": "requirements.txt",
    "packages.txt": "packages.txt",
    "sdk.txt": "sdk_version in README.md",
}
_FROM_RE = re.compile(r"\s*\(from [^()]*(?:\([^()]*\)[^()]*)*\)")
_NOT_FOUND_RE = re.compile(r"Could not find a version that satisfies the requirement (.+)")


def source_of(instruction: str | None) -> str | None:
    """Which of the Space's files (or its sdk_version) a failing step was installing."""
    if not instruction:
        return None
    for needle, name in _SOURCES.items():  # pre-requirements before requirements
        if f"/{needle}" in instruction:
            return name
    return None


def failure_reason(instruction: str | None, lines: list[str], daemon_error: str) -> str:
    """One or two lines saying why the step failed."""
    source = source_of(instruction)
    where = f" (from {source})" if source else ""
    errors = [ln.strip()[len("ERROR: "):] for ln in lines if ln.strip().startswith("ERROR: ")]
    for text in errors:
        match = _NOT_FOUND_RE.search(text)
        if match:
            requirement = _FROM_RE.sub("", match.group(1)).strip()
            return f"pip could not find a version that satisfies the requirement " \
                   f"{requirement}{where}"
    if any("ResolutionImpossible" in e for e in errors) or any(
        "conflicting dependencies" in e for e in errors
    ):
        head = next((e for e in errors if "conflicting dependencies" in e), errors[0])
        return f"pip found conflicting requirements{where}: {_FROM_RE.sub('', head)}\n" \
               + "; ".join(_conflict_lines(lines))
    if errors:
        return f"pip failed{where}: {errors[0]}"
    apt = [ln.strip()[3:] for ln in lines if ln.strip().startswith("E: ")]
    if apt:
        return f"apt-get failed{where}: {apt[0]}"
    tail = [ln.strip() for ln in lines if ln.strip()][-2:]
    step = f"step `{instruction}` failed" if instruction else "the build failed"
    return f"{step}: {daemon_error}" + (f"\n{' / '.join(tail)}" if tail else "")


def _conflict_lines(lines: list[str]) -> list[str]:
    """pip's 'The conflict is caused by:' block, without the boilerplate."""
    out: list[str] = []
    inside = False
    for line in lines:
        text = line.strip()
        if text.startswith("The conflict is caused by"):
            inside = True
            continue
        if inside:
            if not text or text.startswith(("To fix this", "Additionally", "ERROR")):
                break
            out.append(text)
    return out[:4]
