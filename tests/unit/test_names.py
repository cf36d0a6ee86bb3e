"""podium.names: every identifier derived from a user-given name is valid where it is used.

The regular expressions here restate Docker's and DNS's grammars independently of
names.py, so a bug in its private patterns cannot hide behind itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podium.errors import InvalidName
from podium.names import (
    OWNER_RE,
    RESERVED_OWNERS,
    SPACE_RE,
    SpaceId,
    image_tag,
    is_valid_docker_repository,
    is_valid_hostname_label,
    parse_subdomain,
    validate_owner,
    validate_space_name,
)

# distribution/reference grammar: path components, and the tag.
DOCKER_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
DOCKER_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
# Docker engine: container and volume names.
DOCKER_OBJECT = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
# RFC 1123 label, lower-case as Podium emits it.
DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
REPOS = Path("/nonexistent-podium-test/data/repos")

# Small alphabets make collisions and edge cases (hyphens at the ends, '..', '--') likely;
# the unicode, NUL, slash and newline characters must all be refused.
owners = st.text(alphabet="aB9-_.é/\x00\n", max_size=42) | st.from_regex(OWNER_RE, fullmatch=True)
names = st.text(alphabet="aB9-_. é/\x00", max_size=100) | st.from_regex(SPACE_RE, fullmatch=True)
valid_ids = st.builds(
    lambda o, n: (o, n),
    st.from_regex(OWNER_RE, fullmatch=True),
    st.from_regex(SPACE_RE, fullmatch=True),
)
HYPOTHESIS = settings(deadline=None, max_examples=300)


def make(owner: str, name: str) -> SpaceId | None:
    try:
        return SpaceId(owner, name)
    except InvalidName:
        return None


def assert_identifiers_valid(sid: SpaceId) -> None:
    path = sid.repo_path(REPOS)
    assert REPOS.resolve() in path.resolve().parents
    assert path.name.endswith(".git") and "/" not in path.relative_to(REPOS).parts[0]

    label = sid.subdomain
    assert DNS_LABEL.fullmatch(label) and is_valid_hostname_label(label)
    assert parse_subdomain(sid.hostname("Spaces.Example.org").upper() + ":8443",
                           "spaces.example.org") == label

    repo = sid.image_repository()
    assert all(DOCKER_COMPONENT.fullmatch(part) for part in repo.split("/"))
    assert is_valid_docker_repository(repo)
    ref = sid.image_ref("0123456789abcdef0123456789abcdef01234567")
    name_part, tag = ref.rsplit(":", 1)
    assert name_part == repo and DOCKER_TAG.fullmatch(tag) and len(ref) <= 255

    for suffix in ("blue", "green", "build-1", "Weird Suffix/../!"):
        assert DOCKER_OBJECT.fullmatch(sid.container_name(suffix))
    assert DOCKER_OBJECT.fullmatch(sid.data_volume())
    assert DOCKER_OBJECT.fullmatch(sid.data_volume("E2E run.1"))
    assert sid.data_volume("e2e-1") != sid.data_volume()
    assert SpaceId.parse(str(sid)) == sid


@HYPOTHESIS
@given(owners, names)
def test_any_pair_is_refused_or_safe(owner: str, name: str) -> None:
    sid = make(owner, name)
    if sid is not None:
        assert_identifiers_valid(sid)


@HYPOTHESIS
@given(st.text(max_size=60) | st.builds("{}/{}".format, owners, names))
def test_any_text_parses_or_raises_invalid_name(text: str) -> None:
    try:
        sid = SpaceId.parse(text)
    except InvalidName as exc:
        assert exc.hint  # the user is told how to write it
        return
    assert_identifiers_valid(sid)


@HYPOTHESIS
@given(valid_ids)
def test_valid_ids_are_accepted(pair: tuple[str, str]) -> None:
    owner, name = pair
    sid = make(owner, name)
    reserved = owner.lower() in RESERVED_OWNERS
    bad_name = "--" in name or ".." in name or name.lower().endswith(".git")
    assert (sid is None) == (reserved or bad_name)
    if sid is not None:
        assert_identifiers_valid(sid)


@HYPOTHESIS
@given(st.lists(st.builds(make, owners, names), max_size=30))
def test_distinct_keys_give_distinct_docker_names(ids: list[SpaceId | None]) -> None:
    by_key = {sid.key: sid for sid in ids if sid is not None}
    for derive in (
        SpaceId.image_repository, SpaceId.data_volume, lambda s: s.container_name("blue"),
    ):
        derived = {derive(sid) for sid in by_key.values()}
        assert len(derived) == len(by_key)


def test_lossy_slug_cannot_collide_with_a_name_spelling_its_hash() -> None:
    # 'a_b' slugs lossily to 'a-b' plus a hash; a Space literally named 'a-b-<hash>' must
    # still get its own image repository, container names and data volume.
    lossy = SpaceId("x", "a_b")
    suffix = lossy.image_repository().rsplit("-", 1)[-1]
    lookalike = SpaceId("x", f"a-b-{suffix}")
    assert lossy.image_repository() != lookalike.image_repository()
    assert lossy.data_volume() != lookalike.data_volume()


def test_owner_name_boundary_is_unambiguous() -> None:
    a, b = SpaceId("alice-x", "demo"), SpaceId("alice", "x-demo")
    assert a.image_repository() != b.image_repository()
    assert a.repo_path(REPOS) != b.repo_path(REPOS)


def test_case_insensitive_identity() -> None:
    upper, lower = SpaceId("Alice", "My_Demo"), SpaceId("alice", "my_demo")
    assert str(upper) == "Alice/My_Demo"  # case is preserved for display
    assert upper.key == lower.key
    assert upper.subdomain == lower.subdomain == "alice-my-demo"
    assert upper.image_repository() == lower.image_repository()
    assert upper.repo_path(REPOS) == lower.repo_path(REPOS) == REPOS / "alice" / "my_demo.git"


def test_long_ids_get_a_hashed_but_valid_subdomain() -> None:
    a, b = SpaceId("o" * 39, "n" * 95 + "a"), SpaceId("o" * 39, "n" * 95 + "b")
    assert len(a.subdomain) <= 63 and is_valid_hostname_label(a.subdomain)
    assert a.subdomain != b.subdomain


@pytest.mark.parametrize(
    "name",
    ["a", "A", "demo", "my_space", "v1.2", "x_", "a-b_c.d", "a" * 96, "Space-2024"],
)
def test_accepted_space_names(name: str) -> None:
    assert validate_space_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "", "..", ".", "a/b", "-x", "x-", ".x", "x.", "x.git", "X.GIT", "a--b", "a..b",
        "a" * 97, "é", "naïve", "a\x00b", " a", "a b", "a\n", "_x",
    ],
)
def test_rejected_space_names(name: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_space_name(name)
    assert info.value.hint


@pytest.mark.parametrize("owner", ["alice", "Alice-Bob", "a", "a1", "o" * 39])
def test_accepted_owners(owner: str) -> None:
    assert validate_owner(owner) == owner


@pytest.mark.parametrize(
    "owner",
    [
        "api", "API", "spaces", "static", "new", "", "-x", "x-", "a--b", "a_b", "a.b",
        "o" * 40, "é", "a/b", "..", "a\x00",
    ],
)
def test_rejected_owners(owner: str) -> None:
    with pytest.raises(InvalidName):
        validate_owner(owner)


@pytest.mark.parametrize(
    "text", ["alice", "alice/demo/x", "/demo", "alice/", "alice//demo", "../etc/passwd", ""]
)
def test_parse_rejects_malformed_ids(text: str) -> None:
    with pytest.raises(InvalidName):
        SpaceId.parse(text)


@pytest.mark.parametrize(
    ("host", "domain", "expected"),
    [
        ("alice-demo.localhost", "localhost", "alice-demo"),
        ("Alice-Demo.LocalHost:8080", "localhost", "alice-demo"),
        ("alice-demo.spaces.example.org.", "spaces.example.org", "alice-demo"),
        ("localhost", "localhost", None),
        ("localhost:8080", "localhost", None),
        ("a.b.localhost", "localhost", None),
        ("evil-localhost", "localhost", None),
        ("alice-demo.example.com", "localhost", None),
        ("-bad.localhost", "localhost", None),
        ("under_score.localhost", "localhost", None),
        ("x" * 64 + ".localhost", "localhost", None),
    ],
)
def test_parse_subdomain(host: str, domain: str, expected: str | None) -> None:
    assert parse_subdomain(host, domain) == expected


@HYPOTHESIS
@given(st.text(max_size=200))
def test_image_tag_is_always_valid(text: str) -> None:
    tag = image_tag(text)
    assert DOCKER_TAG.fullmatch(tag)


def test_image_tag_keeps_a_commit_sha() -> None:
    sha = "0123456789ABCDEF0123456789abcdef01234567"
    assert image_tag(sha) == sha.lower()
    assert image_tag("a/b") != image_tag("a:b")  # sanitised tags stay distinct by hash
