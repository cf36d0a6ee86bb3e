"""Issue 10, items 2 (API half), 7, 8, 9, 10: a browser on a Space's host attacking the API
process over real HTTP (uvicorn, real Redis, SQLite in tmp)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from podium.config import Settings
from tests.integration.api_helpers import ADMIN_PASSWORD, ServedApp, api_settings

SPACE_ORIGIN = "http://eve-trap.podium.test:8080"
DASHBOARD = "http://podium.test:8080"
FROM_SPACE = {"Origin": SPACE_ORIGIN, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}
FROM_DASHBOARD = {"Origin": DASHBOARD, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def served(
    tmp_path: Path, redis_url: str, redis_conn: redis.Redis,
) -> Iterator[tuple[str, Settings]]:
    settings = api_settings(tmp_path, redis_url, login_account_failures=5,
                            login_address_failures=8, login_failure_window=60)
    with ServedApp(settings) as server:
        yield f"http://127.0.0.1:{server.port}", settings


def _login(base: str, password: str = ADMIN_PASSWORD, user: str = "admin") -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    reply = client.post("/api/login", json={"username": user, "password": password},
                        headers=FROM_DASHBOARD)
    assert reply.status_code == 200, reply.text
    return client


def test_item2_space_script_is_anonymous_to_the_api_with_the_admins_cookie(served) -> None:
    base, _ = served
    admin = _login(base)
    assert admin.get("/api/whoami", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert admin.get("/api/whoami", headers=FROM_SPACE).status_code == 401
    assert admin.get("/api/tokens", headers={"Sec-Fetch-Site": "same-site"}).status_code == 401
    assert admin.get("/api/whoami", headers={"Origin": "null"}).status_code == 401
    minted = admin.post("/api/tokens", json={"name": "stolen"}, headers=FROM_SPACE)
    assert minted.status_code == 403, minted.text
    assert "cross-origin" in minted.json()["message"]
    listed = admin.get("/api/tokens", headers={"Sec-Fetch-Site": "same-origin"}).json()
    assert [t["name"] for t in listed] == []


def test_item7_form_post_from_a_space_origin_is_refused(served) -> None:
    base, _ = served
    admin = _login(base)
    for path in ("/api/logout", "/api/spaces/admin/x/pause", "/api/tokens"):
        reply = admin.post(path, data={"a": "b"}, headers=FROM_SPACE)
        assert reply.status_code == 403, (path, reply.text)
    # The cookie still works from the dashboard: the logout above did nothing.
    assert admin.get("/api/whoami", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    login = httpx.post(f"{base}/api/login", headers=FROM_SPACE,
                       json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 403


def test_item8_login_next_never_leaves_the_site(served) -> None:
    base, _ = served
    admin = _login(base)
    for bad in ("/%09/127.0.0.2:9999/landed", "//127.0.0.2/x", "/%5C127.0.0.2", "http://x/"):
        reply = admin.get(f"/login?next={bad}", follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"] == "/", (bad, reply.headers["location"])
    ok = admin.get("/login?next=/admin", follow_redirects=False)
    assert ok.headers["location"] == "/admin"


def test_item9_wrong_passwords_get_429_with_retry_after(served) -> None:
    base, _ = served
    codes = []
    for _ in range(7):
        reply = httpx.post(f"{base}/api/login",
                           json={"username": "admin", "password": "nope-nope"})
        codes.append(reply.status_code)
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], codes
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    # Locked even with the right password: a guesser learns nothing while locked.
    right = httpx.post(f"{base}/api/login",
                       json={"username": "admin", "password": ADMIN_PASSWORD})
    assert right.status_code == 429


def test_item9_git_basic_auth_passwords_are_throttled_too(served) -> None:
    base, _ = served
    admin = _login(base)
    made = admin.post("/api/spaces", json={"name": "repo", "sdk": "static"}, headers=FROM_DASHBOARD)
    assert made.status_code == 201, made.text
    auth = "Basic " + base64.b64encode(b"admin:wrong-password").decode()
    url = f"{base}/spaces/admin/repo.git/info/refs?service=git-receive-pack"
    codes = [httpx.get(url, headers={"Authorization": auth}).status_code for _ in range(6)]
    assert codes[-1] == 429 and 401 in codes, codes
    last = httpx.get(url, headers={"Authorization": auth})
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1


def test_item10_sessions_die_on_logout_password_change_and_disable(served) -> None:
    base, _ = served
    admin = _login(base)
    same = {"Sec-Fetch-Site": "same-origin"}
    # logout: the old cookie value replayed is refused
    victim = _login(base)
    cookie = victim.cookies["podium_session"]
    assert victim.post("/api/logout", headers=FROM_DASHBOARD).status_code == 200
    replay = httpx.get(f"{base}/api/whoami", cookies={"podium_session": cookie})
    assert replay.status_code == 401
    # password change: the other sessions die, this one goes on
    other = _login(base)
    changed = admin.post("/api/password", headers=FROM_DASHBOARD, json={
        "current_password": ADMIN_PASSWORD, "new_password": "new-admin-password"})
    assert changed.status_code == 200, changed.text
    assert other.get("/api/whoami", headers=same).status_code == 401
    assert admin.get("/api/whoami", headers=same).status_code == 200
    # disabling a user ends its sessions
    made = admin.post("/api/users", headers=FROM_DASHBOARD,
                      json={"username": "carol", "password": "carol-password"})
    assert made.status_code == 201, made.text
    carol = _login(base, "carol-password", "carol")
    assert carol.get("/api/whoami", headers=same).status_code == 200
    off = admin.patch("/api/users/carol", headers=FROM_DASHBOARD, json={"disabled": True})
    assert off.status_code == 200, off.text
    assert carol.get("/api/whoami", headers=same).status_code == 401
    again = httpx.post(f"{base}/api/login",
                       json={"username": "carol", "password": "carol-password"})
    assert again.status_code == 401
