"""The git server end to end: the real git client over HTTP against uvicorn serving
``create_git_app`` on a loopback port, with an in-test ``GitAccess``."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from podium.config import Settings
from podium.controller.metadata import config_at
from podium.errors import AlreadyExists, BadRequest
from podium.gitserver import (
    create_git_app,
    export_commit,
    head_commit,
    import_from_url,
    init_from_template,
    read_file,
    read_tree,
)
from podium.gitserver.pktline import FLUSH, pkt
from podium.names import SpaceId
from podium.proxy.testing import ServerThread
from tests.conftest import require

HANDLER = f"{__name__}:record_push"


def record_push(
    settings: Settings, space_id: SpaceId, ref: str, old: str, new: str, pusher: str,
) -> list[str]:
    """The push handler the hooks call: logs the call (and the process it ran in) to a file."""
    entry = {"space": str(space_id), "ref": ref, "old": old, "new": new, "pusher": pusher,
             "pid": os.getpid()}
    with open(settings.data_dir / "pushes.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")
    return [f"Build {new[:12]} queued for {space_id}", f"Logs: podium logs -f {space_id}"]


def pushes(settings: Settings) -> list[dict[str, str]]:
    path = settings.data_dir / "pushes.jsonl"
    found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    for entry in found:
        # Run by the git server itself (this test process), handed over by the hook process
        # (gitserver/relay.py), not by a hook process importing the platform.
        assert entry.pop("pid") == os.getpid()
    return found


@dataclass
class User:
    username: str
    is_admin: bool = False


@dataclass
class Access:
    """Tokens and Spaces in dictionaries: the GitAccess contract, nothing more."""

    tokens: dict[str, User] = field(default_factory=dict)
    spaces: dict[str, bool] = field(default_factory=dict)  # key -> private

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.tokens.get(password)
        return user if user is not None and user.username == username else None

    def space_exists(self, space_id: SpaceId) -> bool:
        return space_id.key in self.spaces

    def is_private(self, space_id: SpaceId) -> bool:
        return self.spaces[space_id.key]

    def can_write(self, principal: User, space_id: SpaceId) -> bool:
        return principal.is_admin or principal.username.lower() == space_id.owner.lower()

    def can_read(self, principal: User | None, space_id: SpaceId) -> bool:
        if not self.spaces[space_id.key]:
            return True
        return principal is not None and self.can_write(principal, space_id)


class Server(ServerThread):
    def __init__(self, settings: Settings, access: Access) -> None:
        super().__init__(create_git_app(settings, access), lifespan="off")

    def space_url(self, space: str, user: str | None = None, token: str | None = None) -> str:
        auth = f"{user}:{token}@" if user else ""
        return f"http://{auth}127.0.0.1:{self.port}/spaces/{space}"


@dataclass
class Env:
    settings: Settings
    access: Access
    server: Server
    home: Path
    alice: str = "tok-alice"
    bob: str = "tok-bob"

    def git(self, *args: str, cwd: Path | None = None, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ["PATH"], "HOME": str(self.home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x", "LC_ALL": "C",
        }
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git {args} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def space(self, private: bool = False) -> str:
        space = f"alice/demo-{uuid.uuid4().hex[:8]}"
        self.access.spaces[SpaceId.parse(space).key] = private
        return space

    def clone(self, space: str, dest: Path, user: str | None = None, token: str | None = None,
              ) -> subprocess.CompletedProcess[str]:
        return self.git("clone", self.server.space_url(space, user, token), str(dest), check=False)

    def commit(self, work: Path, files: dict[str, bytes], message: str = "change") -> str:
        for name, data in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_bytes(data)
        self.git("add", "--all", cwd=work)
        self.git("commit", "--quiet", "-m", message, cwd=work)
        return self.git("rev-parse", "HEAD", cwd=work).stdout.strip()

    def refs(self, space: str) -> str:
        git_dir = SpaceId.parse(space).repo_path(self.settings.repos_dir)
        return self.git("--git-dir", str(git_dir), "for-each-ref").stdout


def make_env(tmp_path: Path, **overrides: object) -> Iterator[Env]:
    require(shutil.which("git") is not None, "git is not installed")
    settings = Settings(
        data_dir=tmp_path / "data", redis_url="", database_url="", push_handler=HANDLER,
        **overrides,  # type: ignore[arg-type]
    )
    settings.ensure_dirs()
    access = Access(tokens={
        "tok-alice": User("alice"), "tok-bob": User("bob"), "tok-root": User("root", True),
    })
    home = tmp_path / "home"
    home.mkdir()
    with Server(settings, access) as server:
        yield Env(settings, access, server, home)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def test_clone_push_clone_round_trip(env: Env, tmp_path: Path) -> None:
    space = env.space()
    work = tmp_path / "work"
    first = env.clone(space, work)
    assert first.returncode == 0, first.stderr
    assert "empty repository" in first.stderr
    files = {"app.py": b"import gradio\n", "README.md": b"---\nsdk: gradio\n---\n",
             "src/util.py": b"X = 1\n"}
    sha = env.commit(work, files)

    push = env.git("push", env.server.space_url(space, "alice", env.alice), "HEAD:main", cwd=work)

    assert f"remote: Build {sha[:12]} queued for {space}" in push.stderr
    assert f"remote: Logs: podium logs -f {space}" in push.stderr
    assert pushes(env.settings) == [
        {"space": space, "ref": "refs/heads/main", "old": "0" * 40, "new": sha,
         "pusher": "alice"},
    ]
    again = tmp_path / "again"
    assert env.clone(space + ".git", again).returncode == 0
    assert env.git("rev-parse", "HEAD", cwd=again).stdout.strip() == sha
    for name, data in files.items():
        assert (again / name).read_bytes() == data

    space_id = SpaceId.parse(space)
    assert head_commit(env.settings, space_id) == sha
    assert head_commit(env.settings, space_id, "dev") is None
    entries = {e.path: e for e in read_tree(env.settings, space_id, sha)}
    assert set(entries) == set(files)
    assert entries["src/util.py"].size == len(files["src/util.py"])
    top = read_tree(env.settings, space_id, "main", recursive=False)
    assert {(e.path, e.type) for e in top} == {
        ("app.py", "blob"), ("README.md", "blob"), ("src", "tree")}
    assert [e.path for e in read_tree(env.settings, space_id, sha, "src")] == ["src/util.py"]
    assert read_file(env.settings, space_id, sha, "src/util.py") == files["src/util.py"]
    dest = tmp_path / "context"
    assert export_commit(env.settings, space_id, "main", dest) == sha
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} == set(files)
    # The reflog remembers who pushed.
    git_dir = space_id.repo_path(env.settings.repos_dir)
    assert "alice" in env.git("--git-dir", str(git_dir), "log", "-g", "--format=%gn", "main"
                              ).stdout


def _pushed_space(env: Env, tmp_path: Path) -> tuple[str, Path]:
    space = env.space()
    work = tmp_path / "work"
    env.clone(space, work)
    env.commit(work, {"app.py": b"print(1)\n"})
    env.git("push", env.server.space_url(space, "alice", env.alice), "HEAD:main", cwd=work)
    env.commit(work, {"app.py": b"print(2)\n"})
    return space, work


def test_wrong_token_and_other_user_cannot_push(env: Env, tmp_path: Path) -> None:
    space, work = _pushed_space(env, tmp_path)
    before = env.refs(space)

    wrong = env.git("push", env.server.space_url(space, "alice", "nope"), "HEAD:main", cwd=work,
                    check=False)
    assert wrong.returncode != 0
    assert "remote: Invalid username or token for 'alice'." in wrong.stderr
    assert "Authentication failed" in wrong.stderr

    other = env.git("push", env.server.space_url(space, "bob", env.bob), "HEAD:main", cwd=work,
                    check=False)
    assert other.returncode != 0
    assert f"remote: bob may not push to {space}" in other.stderr
    assert "403" in other.stderr

    anonymous = env.git("push", env.server.space_url(space), "HEAD:main", cwd=work, check=False)
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr  # git was challenged for credentials

    assert env.refs(space) == before
    assert len(pushes(env.settings)) == 1
    # An admin may push to anyone's Space.
    env.git("push", env.server.space_url(space, "root", "tok-root"), "HEAD:main", cwd=work)
    assert env.refs(space) != before


def test_unknown_space_is_404(env: Env, tmp_path: Path) -> None:
    # Anonymous: challenged like a private Space (item 15); with a token: "does not exist".
    anonymous = env.clone("alice/does-not-exist", tmp_path / "a")
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr
    proc = env.clone("alice/does-not-exist", tmp_path / "x", "bob", env.bob)
    assert proc.returncode != 0
    assert "remote: Space alice/does-not-exist does not exist." in proc.stderr
    assert "not found" in proc.stderr
    assert not (env.settings.repos_dir / "alice" / "does-not-exist.git").exists()
    bad = env.clone("alice/--bad--", tmp_path / "y")
    assert bad.returncode != 0 and "not found" in bad.stderr


def test_private_space_needs_a_reader(env: Env, tmp_path: Path) -> None:
    space = env.space(private=True)
    work = tmp_path / "work"
    assert env.clone(space, work, "alice", env.alice).returncode == 0
    sha = env.commit(work, {"app.py": b"secret\n"})
    env.git("push", "origin", "HEAD:main", cwd=work)

    anonymous = env.clone(space, tmp_path / "anon")
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr
    other = env.clone(space, tmp_path / "bob", "bob", env.bob)
    # As if it did not exist: a stranger learns nothing (item 15).
    assert other.returncode != 0 and f"remote: Space {space} does not exist." in other.stderr
    admin = tmp_path / "root"
    assert env.clone(space, admin, "root", "tok-root").returncode == 0
    assert env.git("rev-parse", "HEAD", cwd=admin).stdout.strip() == sha


def test_public_space_anonymous_clone(env: Env, tmp_path: Path) -> None:
    space, _ = _pushed_space(env, tmp_path)
    clone = tmp_path / "anon"
    assert env.clone(space, clone).returncode == 0
    assert (clone / "app.py").read_bytes() == b"print(1)\n"


def test_other_branch_is_stored_not_deployed(env: Env, tmp_path: Path) -> None:
    space, work = _pushed_space(env, tmp_path)
    sha = env.git("rev-parse", "HEAD", cwd=work).stdout.strip()
    push = env.git("push", env.server.space_url(space, "alice", env.alice), "HEAD:refs/heads/dev",
                   cwd=work)
    assert "remote: Branch 'dev' stored; only 'main' is deployed." in push.stderr
    assert "Build" not in push.stderr
    assert [p["ref"] for p in pushes(env.settings)] == ["refs/heads/main"]
    assert head_commit(env.settings, SpaceId.parse(space), "dev") == sha


@pytest.fixture
def small_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, repo_max_bytes=256 * 1024)


def test_size_limit_rejects_with_message(small_env: Env, tmp_path: Path) -> None:
    env = small_env
    space = env.space()
    work = tmp_path / "work"
    env.clone(space, work)
    env.commit(work, {"a.bin": os.urandom(100 * 1024)})
    url = env.server.space_url(space, "alice", env.alice)
    env.git("push", url, "HEAD:main", cwd=work)
    before = env.refs(space)

    # Under the request cap, but the repository would pass the limit: the hook refuses.
    env.commit(work, {"b.bin": os.urandom(200 * 1024)})
    hooked = env.git("push", url, "HEAD:main", cwd=work, check=False)
    assert hooked.returncode != 0
    assert "remote: Push rejected: the repository would be" in hooked.stderr
    assert "over this server's limit of 0.2 MiB" in hooked.stderr
    assert "pre-receive hook declined" in hooked.stderr

    # Over the request cap: the ASGI layer stops writing the upload to disk and refuses the
    # push itself, in words git shows.
    env.commit(work, {"c.bin": os.urandom(2 << 20)})
    capped = env.git("push", url, "HEAD:main", cwd=work, check=False)
    assert capped.returncode != 0
    assert "remote: Push rejected: it is larger than the 0.2 MiB" in capped.stderr
    assert "[remote rejected] HEAD -> main (push too large)" in capped.stderr

    # Far over (past what it is willing to read and discard): a 413 and a closed connection,
    # which curl reports either way depending on when it notices.
    env.commit(work, {"d.bin": os.urandom(6 << 20)})
    huge = env.git("push", url, "HEAD:main", cwd=work, check=False)
    assert huge.returncode != 0
    assert "error: RPC failed" in huge.stderr

    assert env.refs(space) == before
    git_dir = SpaceId.parse(space).repo_path(env.settings.repos_dir)
    env.git("--git-dir", str(git_dir), "fsck", "--strict")
    assert not list((git_dir / "objects").glob("incoming-*"))


Result = subprocess.CompletedProcess[str]


def _push_together(env: Env, url: str, clones: list[Path]) -> list[Result]:
    start = threading.Barrier(len(clones))

    def push(work: Path) -> Result:
        start.wait()  # all at once, to race for the ref lock
        return env.git("push", url, "HEAD:main", cwd=work, check=False)

    with ThreadPoolExecutor(len(clones)) as pool:
        return list(pool.map(push, clones))


def test_concurrent_pushes_leave_a_consistent_repo(env: Env, tmp_path: Path) -> None:
    space, _ = _pushed_space(env, tmp_path)
    url = env.server.space_url(space, "alice", env.alice)
    clones = [tmp_path / f"w{i}" for i in range(4)]
    for work in clones:
        env.git("clone", "--quiet", url, str(work))
    for round_ in range(3):
        for work in clones:  # every clone starts the round from the same tip
            env.git("fetch", "--quiet", "origin", cwd=work)
            env.git("reset", "--quiet", "--hard", "origin/main", cwd=work)
        shas = [env.commit(w, {f"w{i}.txt": f"{round_}".encode()}) for i, w in enumerate(clones)]
        done = _push_together(env, url, clones)
        winners = [i for i, r in enumerate(done) if r.returncode == 0]
        assert len(winners) == 1, [r.stderr for r in done]
        for i, r in enumerate(done):
            if i != winners[0]:
                assert "rejected" in r.stderr, r.stderr
        assert head_commit(env.settings, SpaceId.parse(space)) == shas[winners[0]]
        assert pushes(env.settings)[-1]["new"] == shas[winners[0]]
    assert len(pushes(env.settings)) == 1 + 3  # the first push, then one deploy per round
    git_dir = SpaceId.parse(space).repo_path(env.settings.repos_dir)
    env.git("--git-dir", str(git_dir), "fsck", "--strict", "--no-dangling")


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_large_push_is_streamed(env: Env, tmp_path: Path) -> None:
    size = 20 << 20
    space = env.space()
    work = tmp_path / "work"
    env.clone(space, work)
    data = os.urandom(size)
    sha = env.commit(work, {"model.bin": data})

    # The server runs in this process: sample its resident memory during the push.
    baseline, peak, stop = _rss(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        env.git("push", env.server.space_url(space, "alice", env.alice), "HEAD:main", cwd=work)
    finally:
        stop.set()
        sampler.join()
    growth = peak[0] - baseline
    print(json.dumps({"push_bytes": size, "server_rss_growth_bytes": growth}))
    assert growth < size // 2

    again = tmp_path / "again"
    assert env.clone(space, again).returncode == 0
    assert env.git("rev-parse", "HEAD", cwd=again).stdout.strip() == sha
    assert (again / "model.bin").read_bytes() == data


def test_gzip_request_bodies_are_inflated(env: Env, tmp_path: Path) -> None:
    space, _ = _pushed_space(env, tmp_path)
    sha = head_commit(env.settings, SpaceId.parse(space))
    assert sha is not None
    request = pkt(f"want {sha} ofs-delta\n".encode()) + FLUSH + pkt(b"done\n")
    response = httpx.post(
        env.server.space_url(space) + "/git-upload-pack", content=gzip.compress(request),
        headers={"Content-Type": "application/x-git-upload-pack-request",
                 "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.content.startswith(pkt(b"NAK\n"))
    assert b"PACK" in response.content


def test_import_from_url_mirrors_a_served_repository(env: Env, tmp_path: Path) -> None:
    source, work = _pushed_space(env, tmp_path)
    source_url = env.server.space_url(source, "alice", env.alice)
    env.git("push", "--quiet", source_url, "HEAD:refs/heads/dev", cwd=work)
    target = SpaceId.parse(env.space())
    # The test server listens on loopback, which the egress guard refuses unless opened.
    settings = env.settings.model_copy(update={"egress_allow": "127.0.0.1/32"})

    sha = import_from_url(settings, target, env.server.space_url(source))

    assert sha == head_commit(settings, SpaceId.parse(source))
    assert head_commit(env.settings, target, "dev") == env.git(
        "rev-parse", "HEAD", cwd=work).stdout.strip()
    with pytest.raises(AlreadyExists):
        import_from_url(settings, target, env.server.space_url(source))
    with pytest.raises(BadRequest):
        import_from_url(settings, SpaceId.parse(env.space()), f"file://{work}")
    tiny = settings.model_copy(update={"repo_max_bytes": 100})
    with pytest.raises(BadRequest, match="larger than"):
        import_from_url(tiny, SpaceId.parse(env.space()), env.server.space_url(source))
    with pytest.raises(BadRequest):
        missing = env.server.space_url("alice/nope")
        import_from_url(settings, SpaceId.parse(env.space()), missing)


def test_init_from_template_makes_the_first_commit(env: Env, tmp_path: Path) -> None:
    template = tmp_path / "gradio-hello"
    files = {"README.md": b"---\nsdk: gradio\n---\n", "app.py": b"print('hi')\n",
             "assets/logo.txt": b"logo\n"}
    for name, data in files.items():
        (template / name).parent.mkdir(parents=True, exist_ok=True)
        (template / name).write_bytes(data)
    space = env.space()
    space_id = SpaceId.parse(space)

    sha = init_from_template(env.settings, space_id, template, "alice")

    assert head_commit(env.settings, space_id) == sha
    assert {e.path for e in read_tree(env.settings, space_id, sha)} == set(files)
    clone = tmp_path / "clone"
    assert env.clone(space, clone).returncode == 0
    for name, data in files.items():
        assert (clone / name).read_bytes() == data
    assert env.git("log", "--format=%an", cwd=clone).stdout.strip() == "alice"
    with pytest.raises(AlreadyExists):
        init_from_template(env.settings, space_id, template, "alice")


def test_a_pushed_space_without_front_matter_gets_its_sdk_from_the_packs(
        settings: Settings, tmp_path: Path) -> None:
    # config_at is what a push and the dashboard read; its detection must come from the
    # build packs' order (PACKS), the same one the build uses, or it would not guess at all.
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "README.md").write_text("# A demo without front matter\n")
    (folder / "app.py").write_text("import streamlit as st\nst.write('hi')\n")
    (folder / "helper.py").write_text("import gradio\n")
    space_id = SpaceId("alice", "plain")
    commit = init_from_template(settings, space_id, folder, "alice")
    config = config_at(settings, space_id, commit)
    assert (config.sdk.value, config.app_file) == ("streamlit", "app.py")


def test_the_post_receive_route_refuses_calls_without_the_pushs_ticket(env: Env) -> None:
    """The route a hook hands post-receive to is reachable like any API path: without the
    ticket the git server issued for that push (Space and pusher), nothing runs."""
    import httpx

    from podium.gitserver.relay import HOOK_PATH, issue_ticket

    url = f"http://127.0.0.1:{env.server.port}{HOOK_PATH}"
    update = f"{'0' * 40} {'a' * 40} refs/heads/main\n"
    forged = issue_ticket(b"not the server's key", "alice/demo", "alice")
    for body in ({"space": "alice/demo", "pusher": "alice", "ticket": forged, "updates": update},
                 {"space": "alice/demo", "pusher": "alice", "ticket": "", "updates": update}):
        r = httpx.post(url, json=body, timeout=30, trust_env=False)
        assert r.status_code == 403, r.text
    assert httpx.post(url, content=b"{", timeout=30, trust_env=False).status_code == 400
    assert pushes(env.settings) == []
