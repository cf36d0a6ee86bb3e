"""The hook process a push runs (gitserver/relay.py): it imports nothing heavy, its tickets
bind the Space and the pusher, and it hands post-receive to the git server or falls back."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from podium.gitserver import relay

# What importing the platform pulled into every hook process (two per push, ~1 s each).
HEAVY = ("pydantic", "pydantic_settings", "sqlalchemy", "redis", "rq", "docker", "httpx",
         "starlette", "fastapi", "jinja2", "podium.config", "podium.store",
         "podium.controller", "podium.builds", "podium.gitserver.hook")


def test_the_hook_process_imports_nothing_heavy() -> None:
    code = (
        "import sys; from podium.gitserver.relay import run; "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_without_the_git_servers_ticket_the_in_process_hook_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from podium.gitserver.repo import HOOK_ENTRY

    assert "podium.gitserver.relay" in HOOK_ENTRY
    monkeypatch.delenv(relay.URL_VAR, raising=False)
    monkeypatch.delenv(relay.TICKET_VAR, raising=False)
    assert relay.run(["post-receive"]) is None


def test_a_push_through_the_git_server_runs_hooks_that_import_nothing_heavy(
    tmp_path: Path,
) -> None:
    """The hook script git runs (repo.HOOK_ENTRY), as git runs it, with what the git server
    hands it: ``-X importtime`` lists every module the process imported."""
    from podium.gitserver.repo import HOOK_ENTRY

    server = _Server(200, "Podium: queued build abc\n")
    (tmp_path / "objects").mkdir()
    env = {"PATH": "/usr/bin:/bin", **_env(server.url), "GIT_DIR": str(tmp_path),
           relay.MAX_BYTES_VAR: str(1 << 20), "PYTHONPATH": ":".join(sys.path)}
    try:
        runs = {hook: subprocess.run(
            [sys.executable, "-X", "importtime", "-c", HOOK_ENTRY, hook],
            input="a b refs/heads/main\n", env=env, capture_output=True, text=True,
            timeout=60) for hook in ("pre-receive", "post-receive")}
    finally:
        server.close()
    for hook, run in runs.items():
        assert run.returncode == 0, run.stderr[-2000:]
        imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()
                    if line.startswith("import time:")}
        heavy = sorted(m for m in imported if m in HEAVY or m.split(".")[0] in HEAVY)
        assert heavy == [], f"{hook} imported {heavy}"
    assert runs["post-receive"].stdout == "Podium: queued build abc\n"
    assert len(server.bodies) == 1


def test_a_ticket_binds_the_space_the_pusher_and_expires() -> None:
    key = b"k" * 32
    ticket = relay.issue_ticket(key, "admin/hello", "admin", now=1000.0)
    assert relay.ticket_valid(key, ticket, "admin/hello", "admin", now=1000.0)
    assert not relay.ticket_valid(key, ticket, "admin/other", "admin", now=1000.0)
    assert not relay.ticket_valid(key, ticket, "admin/hello", "mallory", now=1000.0)
    assert not relay.ticket_valid(b"x" * 32, ticket, "admin/hello", "admin", now=1000.0)
    assert not relay.ticket_valid(key, ticket, "admin/hello", "admin",
                                  now=1000.0 + relay.TICKET_TTL_S + 1)
    assert not relay.ticket_valid(key, "garbage", "admin/hello", "admin", now=1000.0)


class _Server:
    def __init__(self, status: int, answer: str) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}{relay.HOOK_PATH}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _env(url: str) -> dict[str, str]:
    return {relay.URL_VAR: url, relay.TICKET_VAR: "1.abc", relay.SPACE_VAR: "admin/hello",
            relay.PUSHER_VAR: "admin"}


def test_post_receive_is_handed_to_the_server_and_its_answer_printed() -> None:
    server = _Server(200, "Podium: queued build abc\n")
    try:
        out = io.StringIO()
        assert relay.relay_post_receive(_env(server.url), "a b refs/heads/main\n", out)
    finally:
        server.close()
    assert out.getvalue() == "Podium: queued build abc\n"
    assert server.bodies == [{"space": "admin/hello", "pusher": "admin", "ticket": "1.abc",
                              "updates": "a b refs/heads/main\n"}]


def test_a_refusal_is_told_to_the_pusher() -> None:
    server = _Server(403, "invalid hook ticket\n")
    try:
        out = io.StringIO()
        assert relay.relay_post_receive(_env(server.url), "a b refs/heads/main\n", out)
    finally:
        server.close()
    assert "Deploy not started" in out.getvalue() and "403" in out.getvalue()


def test_an_unreachable_server_is_reported_for_the_in_process_fallback() -> None:
    server = _Server(200, "")
    url = server.url
    server.close()  # nothing listens there now
    assert not relay.relay_post_receive(_env(url), "a b refs/heads/main\n", io.StringIO())


def test_pre_receive_refuses_a_repository_over_the_limit(tmp_path: Path) -> None:
    objects = tmp_path / "objects" / "ab"
    objects.mkdir(parents=True)
    (objects / "cdef").write_bytes(b"x" * 2048)
    out = io.StringIO()
    assert relay.pre_receive(4096, tmp_path, out) == 0
    assert relay.pre_receive(1024, tmp_path, out) == 1
    assert "Push rejected" in out.getvalue()


@pytest.mark.parametrize("argv", [[], ["update"], ["pre-receive", "x"]])
def test_usage(argv: list[str]) -> None:
    assert relay.run(argv) == 2
