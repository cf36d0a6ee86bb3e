"""Access decisions of the git server and the pieces of protocol it speaks itself."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from podium.errors import Forbidden, NotFound, Unauthorized
from podium.gitserver import is_git_path, is_git_request
from podium.gitserver.auth import authorize, parse_basic
from podium.gitserver.pktline import FLUSH, parse_push_commands, pkt, push_rejection
from podium.names import SpaceId

DEMO = SpaceId("alice", "demo")
SECRET = SpaceId("alice", "secret")


@dataclass
class User:
    username: str
    is_admin: bool = False


class Access:
    tokens = {"a": User("alice"), "b": User("bob"), "r": User("root", True)}
    private = {DEMO.key: False, SECRET.key: True}

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.tokens.get(password)
        return user if user and user.username == username else None

    def space_exists(self, space_id: SpaceId) -> bool:
        return space_id.key in self.private

    def can_write(self, principal: User, space_id: SpaceId) -> bool:
        return principal.is_admin or principal.username == space_id.owner

    def can_read(self, principal: User | None, space_id: SpaceId) -> bool:
        return not self.private[space_id.key] or (
            principal is not None and self.can_write(principal, space_id))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("space", "write", "auth", "outcome"),
    [
        # A missing Space and a private one a stranger may not read answer alike (item 15).
        (SpaceId("alice", "nope"), False, None, Unauthorized),
        (SECRET, False, None, Unauthorized),
        (SpaceId("alice", "nope"), True, None, Unauthorized),
        (SECRET, True, None, Unauthorized),
        (SpaceId("alice", "nope"), False, basic("bob", "wrong"), Unauthorized),
        (SECRET, False, basic("bob", "wrong"), Unauthorized),
        (SpaceId("alice", "nope"), False, basic("bob", "b"), NotFound),
        (SECRET, False, basic("bob", "b"), NotFound),
        (SpaceId("alice", "nope"), True, basic("bob", "b"), NotFound),
        (SECRET, True, basic("bob", "b"), NotFound),
        (SpaceId("alice", "nope"), True, basic("alice", "a"), NotFound),
        (DEMO, False, None, None),
        (DEMO, False, basic("bob", "b"), "bob"),
        (DEMO, False, basic("bob", "wrong"), Unauthorized),
        (DEMO, True, None, Unauthorized),
        (DEMO, True, basic("alice", "b"), Unauthorized),  # someone else's token
        (DEMO, True, basic("bob", "b"), Forbidden),  # a public Space: no secret to bob
        (DEMO, True, basic("alice", "a"), "alice"),
        (DEMO, True, basic("root", "r"), "root"),
        (SECRET, False, basic("alice", "a"), "alice"),
        (SECRET, True, basic("alice", "a"), "alice"),
    ],
)
def test_authorize(space: SpaceId, write: bool, auth: str | None, outcome: object) -> None:
    if isinstance(outcome, type):
        with pytest.raises(outcome):  # type: ignore[call-overload]
            authorize(Access(), space, write=write, authorization=auth)
        return
    principal = authorize(Access(), space, write=write, authorization=auth)
    assert (principal.username if principal else None) == outcome


def test_unauthorized_tells_how_to_authenticate() -> None:
    with pytest.raises(Unauthorized) as info:
        authorize(Access(), DEMO, write=True, authorization=None)
    assert info.value.hint and "TOKEN" in info.value.hint


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("alice", "t:k"), ("alice", "t:k")),
        ("basic " + base64.b64encode(b"a:").decode(), ("a", "")),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Bearer abc", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_basic(header: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/spaces/alice/demo/info/refs", True),
        ("/spaces/alice/demo.git/git-receive-pack", True),
        ("/spaces/alice/demo/git-upload-pack", True),
        ("/spaces/alice/demo/", False),
        ("/spaces/alice/demo/app/info/refs", False),
        ("/api/spaces/alice/demo", False),
    ],
)
def test_is_git_path(path: str, expected: bool) -> None:
    assert is_git_path(path) is expected


@pytest.mark.parametrize("target", [
    "/info/refs?service=git-upload-pack", "/git-upload-pack", "/git-receive-pack",
    "/spaces/alice/demo/info/refs?service=git-receive-pack", "/sub/dir/info/refs",
    "/INFO/Refs", "/info/refs/", "/x?a=1/info/refs&service=git-upload-pack",
    "/x?a=1/git-upload-pack", "/.git/info/lfs/objects/batch", "/info/lfs",
])
def test_item1_git_requests(target: str) -> None:
    assert is_git_request(target)


@pytest.mark.parametrize("target", [
    "/", "/info", "/refs", "/xinfo/refs", "/info/refs.html", "/git-upload-packs",
    "/info/lfsx", "/api/predict?q=refs",
])
def test_item1_other_requests_are_not_git(target: str) -> None:
    assert not is_git_request(target)


OLD, NEW = "1" * 40, "2" * 40


def _request(caps: str) -> bytes:
    return (
        pkt(f"{OLD} {NEW} refs/heads/main\0 {caps}\n".encode())
        + pkt(f"{OLD} {NEW} refs/heads/dev\n".encode()) + FLUSH + b"PACK\0\0\0\2"
    )


def _packets(data: bytes) -> list[bytes | None]:
    out: list[bytes | None] = []
    while data:
        size = int(data[:4], 16)
        out.append(data[4:size] if size else None)
        data = data[max(size, 4):]
    return out


def test_parse_push_commands() -> None:
    assert parse_push_commands(_request("report-status side-band-64k")) == (
        ["refs/heads/main", "refs/heads/dev"], {"report-status", "side-band-64k"})
    assert parse_push_commands(_request("x")[:60]) is None  # cut inside the first command
    assert parse_push_commands(b"zzzz") is None


def test_push_rejection_with_side_band() -> None:
    body = push_rejection(_request("report-status side-band-64k"), "too big\n", "push too large")
    assert body is not None
    packets = _packets(body)
    assert packets[0] == b"\2too big\n"
    assert packets[-1] is None
    report = _packets(b"".join(p[1:] for p in packets if p and p[:1] == b"\1"))
    assert report == [b"unpack ok\n", b"ng refs/heads/main push too large\n",
                      b"ng refs/heads/dev push too large\n", None]


def test_push_rejection_without_side_band_or_report() -> None:
    plain = push_rejection(_request("report-status"), "too big\n", "nope")
    assert plain is not None and _packets(plain)[1] == b"ng refs/heads/main nope\n"
    assert push_rejection(_request("side-band-64k"), "too big\n", "nope") is None
