"""Issue 12 item 3: how a build worker on another host gets a Space's source. The real git
client fetches over smart HTTP from uvicorn serving ``create_git_app`` behind
``TicketAccess`` (as web.py mounts it), with a one-build ticket kept in a real Redis: the
commit's files come out as ``export_commit`` gives them, LFS objects in place, and the
ticket reads that one Space and nothing more."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from podium.config import Settings
from podium.errors import ServiceUnavailable
from podium.gitserver.lfsstore import LfsStore, Pointer, pointer_text
from podium.gitserver.remote import fetch_commit
from podium.gitserver.repo import export_commit
from podium.gitserver.tickets import PREFIX, FetchTickets, TicketAccess, basic_header
from podium.keys import builds as keys
from podium.names import SpaceId
from tests.conftest import require
from tests.integration.test_gitserver import Access, Env, Server, User

pytestmark = [pytest.mark.redis]

BLOB = bytes(range(256)) * 40  # 10 kB, stored in the Space's LFS store


@pytest.fixture
def env(tmp_path: Path, redis_conn: redis.Redis) -> Iterator[Env]:
    require(shutil.which("git") is not None, "git is not installed")
    settings = Settings(data_dir=tmp_path / "data", redis_url="", database_url="",
                        push_handler="")
    settings.ensure_dirs()
    access = Access(tokens={"tok-alice": User("alice"), "tok-bob": User("bob")})
    home = tmp_path / "home"
    home.mkdir()
    wrapped = TicketAccess(access, FetchTickets(redis_conn))  # type: ignore[arg-type]
    with Server(settings, wrapped) as server:  # type: ignore[arg-type]
        yield Env(settings, access, server, home)


def _push(env: Env, space: str, work: Path, files: dict[str, bytes]) -> str:
    sha = env.commit(work, files)
    env.git("push", env.server.space_url(space, "alice", env.alice), "HEAD:main", cwd=work)
    return sha


def _base(env: Env) -> str:
    return f"http://127.0.0.1:{env.server.port}"


def test_a_ticket_fetches_a_commit_as_export_commit_gives_it(
    env: Env, tmp_path: Path, redis_conn: redis.Redis,
) -> None:
    space = env.space(private=True)
    space_id = SpaceId.parse(space)
    work = tmp_path / "work"
    env.clone(space, work, "alice", env.alice)
    pointer = Pointer(hashlib.sha256(BLOB).hexdigest(), len(BLOB))
    first = _push(env, space, work, {"index.html": b"<h1>one</h1>",
                                     "sub/model.bin": pointer_text(pointer)})
    git_dir = space_id.repo_path(env.settings.repos_dir)
    LfsStore(git_dir).store(BLOB, limit=1 << 20)
    _push(env, space, work, {"index.html": b"<h1>two</h1>"})  # `first` is no tip any more

    tickets = FetchTickets(redis_conn)
    ticket = tickets.issue(space_id)
    dest, fetch = tmp_path / "src", tmp_path / "fetch"
    fetch.mkdir()
    assert fetch_commit(_base(env), space_id, first, ticket, dest, fetch) == first

    local = tmp_path / "local"
    export_commit(env.settings, space_id, first, local)
    files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
             if p.is_file()}
    assert files == {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*")
                     if p.is_file()}
    assert files["sub/model.bin"] == BLOB and files["index.html"] == b"<h1>one</h1>"
    # Nothing of git, and no trace of the credential, in what the build context is made of;
    # the fetched repository (beside it) keeps the ticket in no file either.
    assert not (dest / ".git").exists()
    for path in [*dest.rglob("*"), *fetch.rglob("*")]:
        if path.is_file():
            assert ticket.encode() not in path.read_bytes(), path
    tickets.revoke(ticket)
    assert not redis_conn.keys(keys.fetch_ticket("*"))


def test_a_ticket_reads_its_own_space_only_and_never_writes(
    env: Env, tmp_path: Path, redis_conn: redis.Redis,
) -> None:
    mine, other = env.space(private=True), env.space(private=True)
    work, other_work = tmp_path / "work", tmp_path / "other"
    for space, path in ((mine, work), (other, other_work)):
        env.clone(space, path, "alice", env.alice)
        _push(env, space, path, {"index.html": space.encode()})
    tickets = FetchTickets(redis_conn)
    ticket = tickets.issue(SpaceId.parse(mine))
    header = ["-c", f"http.extraHeader=Authorization: {basic_header(ticket)}"]

    def ls_remote(space: str) -> str:
        out = env.git(*header, "ls-remote", env.server.space_url(space), check=False)
        return out.stdout + out.stderr

    assert "refs/heads/main" in ls_remote(mine)
    assert f"remote: Space {other} does not exist." in ls_remote(other)  # as a stranger
    env.commit(work, {"index.html": b"pushed with a ticket"})
    push = env.git(*header, "push", env.server.space_url(mine), "HEAD:main", cwd=work,
                   check=False)
    assert push.returncode != 0 and "may not push" in push.stderr

    with pytest.raises(ServiceUnavailable, match="failed"):  # fetching the other Space
        (tmp_path / "f1").mkdir()
        fetch_commit(_base(env), SpaceId.parse(other), "main", ticket, tmp_path / "d1",
                     tmp_path / "f1")
    tickets.revoke(ticket)
    expired = tickets.issue(SpaceId.parse(mine), ttl=1)
    redis_conn.delete(keys.fetch_ticket(hashlib.sha256(expired.encode()).hexdigest()))
    guessed = PREFIX + "x" * 43
    refs = f"{env.server.space_url(mine)}/info/refs?service=git-upload-pack"
    for bad in (ticket, expired, guessed):  # revoked, expired (as Redis drops it), guessed
        assert httpx.get(refs, headers={"Authorization": basic_header(bad)}).status_code == 401
