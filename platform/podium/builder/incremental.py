"""The incremental dependency layer: when a Space's requirements.txt only adds lines to those
of its own previous image, the install step runs on that image's dependency layer instead of
on a fresh one, so only the added packages are installed and byte-compiled. A `+ scipy`
rebuild otherwise reinstalled and recompiled every package (bench/depcache.py).

Each build with an SDK pack ends its dependency steps with one ``LABEL podium.deps=...``
(a :class:`DepsRecord`): the exact key of everything under the requirements (base image id,
the rendered steps, the files they copy, the index), the requirement lines installed, how
many increments in a row made the layer, and the wheels it holds. The next build of the
same Space reads it from the Space's newest image and finds the layer in that image's
history (the classic builder keeps every step's image id). Three paths:

- reuse: same key, same requirement lines: ``FROM`` that layer, no install (a code-only
  push skips the dependency cache's fill too);
- incremental: same key, the old lines all still there, new lines are plain specifiers,
  fewer than the cap of increments: ``FROM`` that layer, the same install command;
- full: anything else (a line changed or removed, an option or URL line, another base
  image, SDK, constraints, packages.txt or pre-requirements.txt, no previous image).

Only the Space's own images (its repository, its ``podium.space`` label) are looked at,
so no Space builds on another's layers (SECURITY.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import docker
from packaging.requirements import InvalidRequirement, Requirement

from podium.builder.retention import space_image_rows
from podium.names import SpaceId

LABEL = "podium.deps"
# Bump when the dependency steps' meaning changes in a way the rendered text does not show.
RECIPE = 1
# The rendered Dockerfile's dependency steps end at this comment (the key covers them).
END_MARK = "# podium: end of the dependency layer"


def plain_lines(requirements: str) -> tuple[str, ...] | None:
    """The requirement lines as pip reads them (comments and blanks dropped), or None when
    one is not a plain specifier (an option, a URL, a path): its meaning can change without
    the line changing, so such a file is always installed in full."""
    lines: list[str] = []
    for raw in requirements.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            return None
        try:
            if Requirement(line).url:
                return None
        except InvalidRequirement:
            return None
        lines.append(line)
    return tuple(lines)


@dataclass(frozen=True)
class DepsRecord:
    """What the ``podium.deps`` label of a dependency layer says."""

    key: str
    lines: tuple[str, ...]
    depth: int = 0
    wheels: tuple[str, ...] = ()
    uv: bool = False  # the layer holds /tmp/podium/uv (the cache's installer)

    def encode(self) -> str:
        """Base64 of compact JSON: safe inside a Dockerfile's double-quoted LABEL value."""
        data = {"v": RECIPE, "key": self.key, "lines": list(self.lines), "depth": self.depth,
                "wheels": list(self.wheels), "uv": self.uv}
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, text: str | None) -> DepsRecord | None:
        if not text:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text.encode()))
            if data.get("v") != RECIPE:
                return None
            return cls(key=str(data["key"]), lines=tuple(str(x) for x in data["lines"]),
                       depth=int(data["depth"]), wheels=tuple(str(x) for x in data["wheels"]),
                       uv=bool(data["uv"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def dependency_key(base_image_id: str, steps: str, files: dict[str, bytes],
                   index: tuple[str, ...]) -> str:
    """sha256 over everything a dependency layer stands on: the base image, the rendered
    steps up to and including the install (cut at END_MARK), the bytes of each file they
    copy (CA bundle, constraints, sdk.txt, the runner's image files, packages.txt,
    pre-requirements.txt) and the index URLs the build gets."""
    digest = hashlib.sha256()
    digest.update(f"recipe {RECIPE}\nbase {base_image_id}\n".encode())
    digest.update(steps.split(END_MARK, 1)[0].encode())
    for name in sorted(files):
        digest.update(f"\nfile {name} {hashlib.sha256(files[name]).hexdigest()}".encode())
    for url in index:
        digest.update(f"\nindex {url}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Plan:
    """Which path this build's dependency steps take, and the log line saying so."""

    key: str
    lines: tuple[str, ...] | None
    note: str
    base: str | None = None  # the previous dependency layer's image id (reuse/incremental)
    previous: DepsRecord | None = None
    added: tuple[str, ...] = field(default=())

    @property
    def reuse(self) -> bool:
        return self.base is not None and not self.added

    def record(self, staged: tuple[str, ...], uv: bool) -> DepsRecord | None:
        """The label of the layer this build makes (None: not a base for a later build);
        ``staged``: the wheels this build copies in, ``uv``: whether it copies uv."""
        if self.lines is None:
            return None
        if self.previous is None or self.base is None:
            return DepsRecord(self.key, self.lines, 0, tuple(sorted(set(staged))), uv)
        if not self.added:
            return self.previous
        wheels = tuple(sorted(set(self.previous.wheels) | set(staged)))
        return DepsRecord(self.key, self.lines, self.previous.depth + 1, wheels,
                          self.previous.uv or uv)


def previous_layer(
    client: docker.DockerClient, space_id: SpaceId, sdk: str,
) -> tuple[str, DepsRecord] | None:
    """The dependency layer of the Space's newest image and its record, if it has one: the
    newest step of the image's history that set the label, checked to carry the same."""
    rows = space_image_rows(client, space_id)
    if not rows:
        return None
    try:
        image = client.images.get(rows[0][0])
        labels = image.labels or {}
        if labels.get("podium.space") != str(space_id) or labels.get("podium.sdk") != sdk:
            return None
        record = DepsRecord.decode(labels.get(LABEL))
        if record is None:
            return None
        for entry in client.api.history(image.id):
            if f"LABEL {LABEL}=" in str(entry.get("CreatedBy")):
                layer = str(entry.get("Id"))
                found = client.images.get(layer)
                if (found.labels or {}).get(LABEL) == labels.get(LABEL):
                    return found.id, record
                return None
    except docker.errors.DockerException:
        return None
    return None


def plan(
    client: docker.DockerClient, space_id: SpaceId, sdk: str, key: str, requirements: str,
    cap: int, *, fresh: bool = False,
) -> Plan:
    """Decide the path by comparing exactly with the Space's own previous layer; ``fresh``
    (a factory rebuild) builds on nothing earlier."""
    lines = plain_lines(requirements)
    if cap <= 0:
        return Plan(key, lines, "full install (incremental dependency layers are off)")
    if fresh:
        return Plan(key, lines, "full install (a rebuild without the engine's cache)")
    if lines is None:
        return Plan(key, lines, "full install (requirements.txt has an option, URL or path "
                    "line)")
    found = previous_layer(client, space_id, sdk)
    if found is None:
        return Plan(key, lines, "full install (no previous image of this Space to build on)")
    base, previous = found
    if previous.key != key:
        return Plan(key, lines, "full install (the base image, SDK, constraints, "
                    "packages.txt or pre-requirements.txt changed since the previous image)")
    removed = Counter(previous.lines) - Counter(lines)
    if removed:
        return Plan(key, lines, f"full install (requirements.txt changed or removed "
                    f"{next(iter(removed))!r})")
    added = tuple((Counter(lines) - Counter(previous.lines)).elements())
    if not added:
        # "Of its previous image": the same layer may serve other Spaces too (the engine's
        # cache shares identical steps, e.g. of one template).
        return Plan(key, lines, f"requirements unchanged: reusing the dependency layer "
                    f"{base[7:19]} of this Space's previous image", base, previous)
    if previous.depth >= cap:
        return Plan(key, lines, f"full install ({previous.depth} incremental builds in a "
                    "row: starting a fresh dependency layer)")
    return Plan(key, lines, f"incremental install of {len(added)} added requirement(s) on "
                f"the dependency layer {base[7:19]} of this Space's previous image "
                f"(increment {previous.depth + 1} of at most {cap})", base, previous, added)
