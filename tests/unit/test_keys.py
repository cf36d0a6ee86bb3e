"""Redis key names (podium.keys): built in one module, and the strings persisted data lives
under (Redis keeps an append-only file) never change by accident."""

from __future__ import annotations

import re
from pathlib import Path

from podium import keys
from podium.names import SpaceId

PACKAGE = Path(keys.__file__).parent


def test_persisted_key_names_keep_their_strings() -> None:
    space = SpaceId("alice", "demo")
    b = keys.builds
    assert (b.ACTIVE, b.DEPLOYS) == ("podium:builds:active", "podium:builds:deploys")
    assert b.log_stream("b1") == "podium:builds:log:b1"
    assert b.lease("b1") == "podium:builds:lease:b1"
    assert b.claim("b1") == "podium:builds:claim:b1"
    assert b.space_lock(space) == f"podium:builds:lock:enqueue:{space.key}"
    assert b.deploy_lock(space) == f"podium:builds:lock:deploy:{space.key}"
    assert b.rate_limit("podium-builds") == "podium-builds-podium-builds"
    sched = keys.SchedulerKeys()
    assert sched.spaces == "podium:sched:spaces"
    assert [sched.record("k"), sched.starting("k"), sched.cancel("k"), sched.lock("k")] == [
        "podium:sched:space:k", "podium:sched:starting:k", "podium:sched:cancel:k",
        "podium:sched:lock:k"]
    routes = keys.RouteKeys()
    assert (routes.routes, routes.subdomains, routes.generation) == (
        "podium:routes", "podium:routes:subdomain", "podium:routes:gen")
    assert routes.wake_pending("k") == "podium:wake:pending:k"
    assert keys.sessions.session("d") == "podium:session:id:d"
    assert keys.sessions.user(7) == "podium:session:user:7"
    assert keys.LOGIN_FAILURES == "podium:login-failures"


def test_no_other_module_spells_a_redis_key() -> None:
    # A literal "podium:..." or a name put together from a prefix variable, f"{prefix}:...".
    spelled = re.compile(r"""f?["']podium:[a-z{]|f["']\{(self\.)?prefix\}:""")
    # store/secrets.py derives Fernet keys from "podium:{purpose}" labels, not Redis keys.
    allowed = {"keys.py", "store/secrets.py"}
    offenders = [
        name for path in PACKAGE.rglob("*.py")
        if (name := str(path.relative_to(PACKAGE))) not in allowed
        and spelled.search(path.read_text())
    ]
    assert offenders == []
