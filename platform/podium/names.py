"""The single place where user-given owner and Space names are validated and turned into
paths, hostnames, image tags and container names. Nothing else builds those from raw input.

Rules follow Hugging Face: a user name is letters, digits and single hyphens; a Space name
is letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', with no '--'
or '..', at most 96 characters. Names are case-preserving but compared case-insensitively:
every derived identifier uses the lower-cased form.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from podium.errors import InvalidName

OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
SPACE_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$")
RESERVED_OWNERS = frozenset(
    {"api", "spaces", "static", "login", "logout", "new", "settings", "admin-api", "_"}
)
_HOST_LABEL_MAX = 63
_HOSTNAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOCKER_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


def validate_owner(owner: str) -> str:
    if not isinstance(owner, str) or not OWNER_RE.fullmatch(owner):
        raise InvalidName(
            f"invalid user or organisation name {owner!r}",
            hint="use letters, digits and single hyphens (not at the start or end), "
            "at most 39 characters",
        )
    if owner.lower() in RESERVED_OWNERS:
        raise InvalidName(f"the name {owner!r} is reserved", hint="choose another name")
    return owner


def validate_space_name(name: str) -> str:
    if (
        not isinstance(name, str)
        or not SPACE_RE.fullmatch(name)
        or "--" in name
        or ".." in name
        or name.lower().endswith(".git")
    ):
        raise InvalidName(
            f"invalid Space name {name!r}",
            hint="use letters, digits, '-', '_' and '.'; no '--' or '..'; do not start or "
            "end with '-' or '.'; do not end with '.git'; at most 96 characters",
        )
    return name


def _slug(text: str) -> str:
    """Lower-case, with every run of characters outside [a-z0-9] turned into one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class SpaceId:
    """A validated owner/name pair. Construct with ``SpaceId.parse`` or ``SpaceId(o, n)``."""

    owner: str
    name: str

    def __post_init__(self) -> None:
        validate_owner(self.owner)
        validate_space_name(self.name)

    @classmethod
    def parse(cls, full: str) -> SpaceId:
        parts = full.split("/") if isinstance(full, str) else []
        if len(parts) != 2:
            raise InvalidName(
                f"invalid Space id {full!r}", hint="write it as owner/name, e.g. alice/demo"
            )
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def key(self) -> str:
        """Case-insensitive identity, used for uniqueness in the store."""
        return f"{self.owner.lower()}/{self.name.lower()}"

    @property
    def subdomain(self) -> str:
        """DNS label as Spaces makes it: ``{owner}-{name}`` lower-cased, '_' and '.' to '-'.

        Labels longer than 63 characters are cut and given a hash of the full id, so they
        stay valid and distinct.
        """
        label = _slug(f"{self.owner}-{self.name}")
        if len(label) > _HOST_LABEL_MAX:
            label = label[: _HOST_LABEL_MAX - 9].rstrip("-") + "-" + _short_hash(self.key)
        return label

    def hostname(self, domain: str) -> str:
        return f"{self.subdomain}.{domain}"

    def repo_path(self, repos_dir: Path) -> Path:
        """Bare git repository on disk; always strictly inside ``repos_dir``."""
        path = repos_dir / self.owner.lower() / f"{self.name.lower()}.git"
        root = repos_dir.resolve()
        if root not in path.resolve().parents:
            raise InvalidName(f"Space id {self} does not map inside the repository root")
        return path

    def data_volume(self, scope: str = "podium") -> str:
        """Docker volume holding the Space's persistent /data. ``scope`` (Settings.instance)
        keeps two installs on one engine (a test run beside a real one) off each other's
        data; the default scope keeps the name volumes always had."""
        prefix = "podium" if scope == "podium" else f"podium-{_slug(scope)}"
        return f"{prefix}-data-{self._docker_slug()}"

    def image_repository(self) -> str:
        """Docker image repository (no tag) for this Space's builds."""
        return f"podium-space/{self._docker_slug()}"

    def image_ref(self, tag: str) -> str:
        return f"{self.image_repository()}:{image_tag(tag)}"

    def container_name(self, suffix: str) -> str:
        return f"podium-{self._docker_slug()}-{image_tag(suffix)}"[:200]

    def _docker_slug(self) -> str:
        # '--' separates owner and name so alice-x/demo and alice/x-demo stay distinct.
        owner = _slug(self.owner)
        name = _slug(self.name)
        slug = f"{owner}--{name}"
        if name != self.name.lower():  # lossy slug: disambiguate with a hash
            # After '--' too: a lossless name never holds '--', so it cannot spell the hash.
            slug = f"{slug}--{_short_hash(self.key)}"
        return slug


_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def image_tag(text: str) -> str:
    """A valid Docker tag from ``text`` (a commit sha, a content hash, a build id)."""
    if isinstance(text, str) and _TAG_RE.fullmatch(text):
        return text.lower()
    slug = re.sub(r"[^a-z0-9_.-]+", "-", str(text).lower()).strip("-.") or "x"
    return (slug[:119] + "-" + _short_hash(str(text)))[:128]


def is_valid_hostname_label(label: str) -> bool:
    return bool(_HOSTNAME_RE.fullmatch(label))


def is_valid_docker_repository(repo: str) -> bool:
    return all(_DOCKER_NAME_RE.fullmatch(part) for part in repo.split("/"))


def parse_subdomain(host: str, domain: str) -> str | None:
    """The Space label of a Host header under ``domain``, or None (the proxy's side)."""
    host = host.split(":", 1)[0].lower().rstrip(".")
    suffix = "." + domain.lower()
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    return label if is_valid_hostname_label(label) else None
