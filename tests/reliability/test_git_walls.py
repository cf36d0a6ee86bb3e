"""Issue 10, items 1 and 15: git and the walls around it, attacked with the real parts.

The platform runs as `podium up` runs it (embedded Redis, API, worker, scheduler, proxy),
once per data plane (nginx-lua, the default; the reload-based nginx; the Python proxy
alone), with a hostile Docker Space built and run by the real engine: it answers 401 with
``WWW-Authenticate: Basic`` to everything (the way to make git hand over the user's
credentials) and records every request it sees in its /data volume. The real git CLI
clones and pushes with a credential helper, as a user's git does.

Item 1: by the README's URL (without and with .git) git always reaches the git server, never
the Space, and on the Space's own host git paths are 404 without reaching it.
Item 15: a stranger (anonymous, wrong token, or a user without access) cannot tell a private
Space from one that does not exist; the owner still clones through git's 401 challenge.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from podium.config import Settings
from podium.names import SpaceId
from podium.scheduler.storage import Storage
from podium.services.redis_server import free_port
from podium.services.up import Started
from podium.spaces.stage import Stage
from tests.conftest import require
from tests.platforms import platform_running, user_token

pytestmark = [pytest.mark.docker, pytest.mark.redis]

ADMIN_PASSWORD = "git-walls-admin-password"
TRAP = SpaceId("admin", "trap")
HIDDEN = SpaceId("admin", "hidden")  # private
MISSING = SpaceId("admin", "nosuch")  # never created; same length as HIDDEN's name

# The hostile Space: every request's method, path and headers appended to /data, then 401.
TRAP_APP = """
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def _trap(self):
        with open("/data/requests.jsonl", "a") as out:
            out.write(json.dumps({"method": self.command, "path": self.path,
                                  "headers": dict(self.headers.items())}) + "\\n")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="trap"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = do_PUT = do_HEAD = _trap
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
"""
TRAP_README = "---\ntitle: Trap\nsdk: docker\napp_port: 8000\nstartup_duration_timeout: 2m\n---\n"
TRAP_DOCKERFILE = 'FROM {base}\nCOPY app.py /app/app.py\nCMD ["python3", "-u", "/app/app.py"]\n'


@dataclass
class Up:
    started: Started
    token: str  # the admin's
    stranger_token: str  # a user who owns nothing
    docker: docker.DockerClient

    @property
    def settings(self) -> Settings:
        return self.started.settings

    @property
    def port(self) -> int:
        return self.settings.public_port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})

    def stage(self, space_id: SpaceId) -> str:
        with self.api() as api:
            return str(api.get(f"/api/spaces/{space_id}/runtime").json()["stage"])

    def wait_running(self, space_id: SpaceId, sha: str | None = None) -> None:
        deadline = time.monotonic() + 300
        runtime: dict = {}
        while time.monotonic() < deadline:
            with self.api() as api:
                runtime = api.get(f"/api/spaces/{space_id}/runtime").json()
            if runtime["stage"] == Stage.RUNNING and (sha is None or runtime["sha"] == sha):
                return
            if runtime["stage"] in (Stage.BUILD_ERROR, Stage.RUNTIME_ERROR, Stage.CONFIG_ERROR):
                pytest.fail(f"{space_id} ended {runtime['stage']}: {runtime}")
            time.sleep(0.5)
        pytest.fail(f"{space_id} not running after 300 s: {runtime}")

    def recorded(self, space_id: SpaceId) -> list[dict]:
        """Every request the hostile Space has seen so far (its /data survives redeploys)."""
        # /data is the Space's quota image, mounted on the host (podium.scheduler.storage).
        data = Storage(self.settings, self.settings.instance).root / "data"
        log = data / space_id.data_volume(self.settings.instance) / "requests.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def git(*args: str, cwd: Path | None = None, user: str = "", password: str = "",
        check: bool = True, resolve: str = "") -> subprocess.CompletedProcess[str]:
    """The git CLI as a user runs it: credentials come from a helper, which git asks only
    after a 401 challenge (nothing in the URL); no prompt, no system or global config."""
    helper = (f"!f() {{ test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' "
              f"'{user}' '{password}'; }}; f") if user else ""
    config = ["-c", "credential.helper=", "-c", f"credential.helper={helper}",
              "-c", "user.name=walls", "-c", "user.email=walls@x",
              "-c", "init.defaultBranch=main"]
    if resolve:
        config += ["-c", f"http.curloptResolve={resolve}"]
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd or Path.cwd()),
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_ASKPASS": "/bin/false"}
    out = subprocess.run(["git", *config, *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    if check:
        assert out.returncode == 0, f"git {' '.join(args)}: {out.stderr}"
    return out



@pytest.fixture(scope="module", params=["nginx-lua", "python"])
def up(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient, base_image: str,
) -> Iterator[Up]:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    require(shutil.which("nginx") is not None, "nginx is not installed")
    data = tmp_path_factory.mktemp("git-walls")
    settings = Settings(
        data_dir=data, redis_url="", database_url="", public_port=free_port(),
        api_port=free_port(), admin_password=ADMIN_PASSWORD, base_image=base_image,
        instance=f"walls-{uuid.uuid4().hex[:8]}", proxy_data_plane=request.param,
        login_account_failures=1000, login_address_failures=1000,
    )
    with platform_running(settings, docker_client) as started:
        found = Up(started, user_token(started.settings, settings.admin_user),
                   user_token(started.settings, "stranger", "stranger-password-123"),
                   docker_client)
        _deploy_trap(found, data / "trap", base_image)
        yield found


def _deploy_trap(up: Up, work: Path, base_image: str) -> None:
    with up.api() as api:
        created = api.post("/api/spaces", json={"name": TRAP.name, "sdk": "docker"})
        assert created.status_code == 201, created.text
        hidden = api.post("/api/spaces", json={"name": HIDDEN.name, "sdk": "docker",
                                               "private": True})
        assert hidden.status_code == 201, hidden.text
    work.mkdir()
    (work / "README.md").write_text(TRAP_README)
    (work / "Dockerfile").write_text(TRAP_DOCKERFILE.format(base=base_image))
    (work / "app.py").write_text(TRAP_APP)
    git("init", "-q", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "trap", cwd=work)
    # While the Space is not running nothing reaches it: this first push is not under test.
    git("push", "-q", f"{up.base}/spaces/{TRAP}.git", "HEAD:main", cwd=work,
        user="admin", password=up.token)
    sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    up.wait_running(TRAP, sha)
    # The Space is served, and records: the wall under test is the only thing in the way.
    probe = httpx.get(f"{up.base}/probe", timeout=10,
                      headers={"Host": f"{TRAP.hostname(up.settings.domain)}:{up.port}"})
    assert probe.status_code == 401 and "trap" in probe.headers["www-authenticate"]
    assert any(r["path"].endswith("/probe") for r in up.recorded(TRAP))


def _git_requests(records: list[dict]) -> list[dict]:
    return [r for r in records if any(
        p in r["path"] for p in ("info/refs", "git-upload-pack", "git-receive-pack", "info/lfs"))]


def _credentials(records: list[dict]) -> list[dict]:
    return [r for r in records if any(k.lower() == "authorization" for k in r["headers"])]


@pytest.mark.parametrize("suffix", ["", ".git"])
def test_item1_clone_and_push_of_a_running_space_never_reach_it(
    up: Up, tmp_path: Path, suffix: str,
) -> None:
    # The README's URL (http://localhost:8080/spaces/admin/hello), and the .git form.
    url = f"http://{up.settings.domain}:{up.port}/spaces/{TRAP}{suffix}"
    before = len(up.recorded(TRAP))
    clone = tmp_path / "clone"
    cloned = git("clone", "-q", url, str(clone), cwd=tmp_path, check=False,
                 user="admin", password=up.token)
    stolen = _credentials(up.recorded(TRAP)[before:])
    assert stolen == [], f"the Space got the cloner's credentials: {stolen}"
    assert cloned.returncode == 0, cloned.stderr
    assert (clone / "app.py").read_text() == TRAP_APP
    (clone / "note.txt").write_text(f"pushed by {url}\n")
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", f"push via {url}", cwd=clone)
    git("push", "-q", url, "HEAD:main", cwd=clone, user="admin", password=up.token)
    sha = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    # The push went to the git server: it builds and deploys, the trap runs the new commit.
    up.wait_running(TRAP, sha)
    seen = up.recorded(TRAP)[before:]
    assert _git_requests(seen) == []
    assert _credentials(seen) == []


GIT_ON_HOST = [
    ("GET", "/info/refs?service=git-upload-pack"),
    ("GET", "/info/refs?service=git-receive-pack"),
    ("POST", "/git-upload-pack"),
    ("POST", "/git-receive-pack"),
    ("GET", f"/spaces/{TRAP}/info/refs?service=git-upload-pack"),
    ("GET", "/sub/dir/info/refs?service=git-upload-pack"),
    ("GET", "/INFO/refs?service=git-upload-pack"),
    ("GET", "/?x=1/info/refs&service=git-upload-pack"),  # git's URL for a base with "?"
    ("POST", "/.git/info/lfs/objects/batch"),
]


def test_item1_git_paths_on_the_space_host_are_404_and_never_reach_it(
    up: Up, tmp_path: Path,
) -> None:
    host = f"{TRAP.hostname(up.settings.domain)}:{up.port}"
    before = len(up.recorded(TRAP))
    creds = httpx.BasicAuth("admin", up.token)
    _space_answers_by_host(up, host)
    with httpx.Client(base_url=up.base, headers={"Host": host}, timeout=10) as client:
        for method, path in GIT_ON_HOST:
            for auth in (None, creds):
                reply = client.request(method, path, auth=auth, content=b"0000")
                assert reply.status_code == 404, (method, path, reply.status_code)
                assert "www-authenticate" not in reply.headers
    # And git itself, pointed at the Space's host: refused, without asking for credentials.
    space_host = TRAP.hostname(up.settings.domain)
    out = git("ls-remote", f"http://{space_host}:{up.port}/", cwd=tmp_path, check=False,
              user="admin", password=up.token, resolve=f"{space_host}:{up.port}:127.0.0.1")
    assert out.returncode != 0 and "not found" in out.stderr.lower(), out.stderr
    seen = up.recorded(TRAP)[before:]
    assert seen and {r["path"] for r in seen} == {"/plain"}
    assert _credentials(seen) == []


def _space_answers_by_host(up: Up, host: str) -> None:
    """The Space itself answers on its host (so only the wall keeps git from it). Retried:
    a redeploy of the earlier test may still be swapping versions, which is not under test."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{up.base}/plain", headers={"Host": host}, timeout=10
                         ).status_code == 401:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the Space does not answer on its host"
        time.sleep(0.2)


# -- item 15 ---------------------------------------------------------------------------


GIT_REQUESTS = [
    ("GET", "/info/refs?service=git-upload-pack"),
    ("GET", "/info/refs?service=git-receive-pack"),
    ("POST", "/git-upload-pack"),
    ("POST", "/git-receive-pack"),
]


def _answer(up: Up, space_id: SpaceId, method: str, tail: str,
            auth: httpx.BasicAuth | None) -> tuple[int, str, dict[str, str]]:
    suffix = ".git" if tail.startswith("/git-") else ""  # both spellings, as git uses them
    reply = httpx.request(method, f"{up.base}/spaces/{space_id}{suffix}{tail}", auth=auth,
                          content=b"0000" if method == "POST" else None, timeout=10,
                          headers={"Content-Type": "application/x-git-upload-pack-request"})
    headers = {k: v for k, v in reply.headers.items() if k not in ("date",)}
    return reply.status_code, reply.text.replace(space_id.name, "NAME"), headers


@pytest.mark.parametrize("who", ["anonymous", "wrong-token", "stranger"])
def test_item15_a_private_space_looks_missing_to_strangers(up: Up, who: str) -> None:
    auth = {"anonymous": None, "wrong-token": httpx.BasicAuth("stranger", "not-a-token"),
            "stranger": httpx.BasicAuth("stranger", up.stranger_token)}[who]
    for method, tail in GIT_REQUESTS:
        hidden = _answer(up, HIDDEN, method, tail, auth)
        missing = _answer(up, MISSING, method, tail, auth)
        assert hidden == missing, (method, tail)
        # Anonymous: a challenge (git sends credentials only after one); a known user: 404.
        assert hidden[0] == (404 if who == "stranger" else 401), (method, tail, hidden)
        if hidden[0] == 401:
            assert hidden[2]["www-authenticate"].startswith("Basic")


def test_item15_git_cli_cannot_tell_and_the_owner_still_clones(up: Up, tmp_path: Path) -> None:
    outputs = {}
    for space_id in (HIDDEN, MISSING):
        url = f"{up.base}/spaces/{space_id}"
        outs = [git("ls-remote", url, cwd=tmp_path, check=False, user=user, password=pw)
                for user, pw in (("", ""), ("stranger", up.stranger_token))]
        assert all(o.returncode != 0 for o in outs)
        outputs[space_id] = [o.stderr.replace(space_id.name, "NAME") for o in outs]
    assert outputs[HIDDEN] == outputs[MISSING]
    # The owner, with nothing but a credential helper: git is challenged, then clones.
    git("clone", "-q", f"{up.base}/spaces/{HIDDEN}", str(tmp_path / "mine"), cwd=tmp_path,
        user="admin", password=up.token)
    assert (tmp_path / "mine" / ".git").is_dir()
