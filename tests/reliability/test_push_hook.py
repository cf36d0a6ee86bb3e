"""Item 16: a push through the real git server (http-backend, receive-pack, both hooks)
prints no runpy RuntimeWarning in its `remote:` lines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_gitserver import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def test_item16_a_push_prints_no_runtime_warning(env: Env, tmp_path: Path) -> None:
    space = env.space()
    work = tmp_path / "work"
    env.clone(space, work)
    sha = env.commit(work, {"app.py": b"print(1)\n"})
    started = time.monotonic()
    push = env.git("push", env.server.space_url(space, "alice", env.alice), "HEAD:main",
                   cwd=work)
    elapsed = time.monotonic() - started
    assert f"remote: Build {sha[:12]} queued for {space}" in push.stderr  # hooks ran
    assert "RuntimeWarning" not in push.stderr, push.stderr
    assert "sys.modules" not in push.stderr, push.stderr
    print(f"git push took {elapsed:.2f} s")
