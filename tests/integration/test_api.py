"""The JSON API through the real app: ``create_app`` with a real Redis, SQLite in tmp, real
git repositories and the real rq queue (no worker runs: builds stay queued)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from podium.builds.queue import fetch_job
from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.access import GrantSigner
from podium.proxy.routes import Route, RouteTable
from podium.resources import templates_dir
from podium.spaces.stage import BuildStatus, Sdk, Stage
from podium.store import Cipher, Database, Secret, ShareLink, find_space, latest_build, utcnow
from tests.integration.api_helpers import (
    ADMIN_PASSWORD,
    PASSWORD,
    add_user,
    api_settings,
    bearer,
    login_token,
)


class Env:
    def __init__(self, client: TestClient, settings: Settings, conn: redis.Redis) -> None:
        self.client = client
        self.settings = settings
        self.conn = conn
        self.admin = login_token(client, "admin", ADMIN_PASSWORD)
        self.alice = add_user(client, self.admin, "alice")
        self.bob = add_user(client, self.admin, "bob")
        self.db = Database(settings)

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = bearer(token) if token else {}
        return self.client.request(method, path, headers=headers, **kw)

    def create(self, token: str, name: str, **body: Any) -> dict[str, Any]:
        reply = self.call("POST", "/api/spaces", token, json={"name": name, **body})
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    def record(self, space: str) -> Any:
        with self.db.session() as session:
            return find_space(session, SpaceId.parse(space))

    def latest_build(self, space: str) -> Any:
        with self.db.session() as session:
            found = find_space(session, SpaceId.parse(space))
            return latest_build(session, found) if found else None


@pytest.fixture
def env(tmp_path: Path, redis_url: str, redis_conn: redis.Redis) -> Iterator[Env]:
    settings = api_settings(tmp_path, redis_url)
    from podium.web import create_app

    with TestClient(create_app(settings), base_url="http://testserver") as client:
        e = Env(client, settings, redis_conn)
        yield e
        e.db.dispose()


def error(reply: Any, status: int, code: str) -> str:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["error"] == code, body
    assert body["message"]
    return str(body["message"])


# --- sessions, users, tokens -------------------------------------------------------------


def test_login_sets_a_session_cookie_that_whoami_and_logout_honour(env: Env) -> None:
    client = TestClient(env.client.app, base_url="http://testserver")
    assert "password" in error(
        client.post("/api/login", json={"username": "alice", "password": "wrong-one"}),
        401, "unauthorized")
    error(client.get("/api/whoami"), 401, "unauthorized")

    reply = client.post("/api/login", json={"username": "alice", "password": PASSWORD})

    assert reply.json() == {"username": "alice", "is_admin": False}
    assert "podium_session" in reply.cookies
    assert "httponly" in reply.headers["set-cookie"].lower()
    assert client.get("/api/whoami").json() == {"username": "alice", "is_admin": False}
    client.post("/api/logout")
    error(client.get("/api/whoami"), 401, "unauthorized")


def test_only_admins_create_users_and_profiles_count_visible_spaces(env: Env) -> None:
    body = {"username": "carol", "password": PASSWORD}
    error(env.call("POST", "/api/users", None, json=body), 401, "unauthorized")
    assert "admin" in error(env.call("POST", "/api/users", env.alice, json=body), 403,
                            "forbidden")
    assert env.call("POST", "/api/users", env.admin, json=body).status_code == 201
    error(env.call("POST", "/api/users", env.admin, json=body), 409, "conflict")
    error(env.call("POST", "/api/users", env.admin,
                   json={"username": "-bad-", "password": PASSWORD}), 422, "invalid_name")
    error(env.call("POST", "/api/users", env.admin,
                   json={"username": "dave", "password": "short"}), 400, "bad_request")

    env.create(env.alice, "public-one", sdk="gradio")
    env.create(env.alice, "secret-one", sdk="gradio", private=True)

    assert env.call("GET", "/api/users/alice").json() == {"username": "alice",
                                                           "spaces_count": 1}
    assert env.call("GET", "/api/users/alice", env.alice).json()["spaces_count"] == 2
    assert env.call("GET", "/api/users/alice", env.bob).json()["spaces_count"] == 1
    error(env.call("GET", "/api/users/nobody"), 404, "not_found")


def test_token_plaintext_is_shown_once_and_read_scope_cannot_write(env: Env) -> None:
    made = env.call("POST", "/api/tokens", env.alice, json={"name": "ci", "scope": "read"})
    assert made.status_code == 201
    token = made.json()
    assert token["scope"] == "read" and token["token"].startswith("pod_")

    listed = env.call("GET", "/api/tokens", env.alice)
    assert token["token"] not in listed.text
    entry = next(t for t in listed.json() if t["id"] == token["id"])
    assert set(entry) == {"id", "name", "prefix", "scope", "created_at", "last_used_at"}
    assert token["token"].startswith(entry["prefix"]) and entry["name"] == "ci"

    read = token["token"]
    assert env.call("GET", "/api/whoami", read).json()["username"] == "alice"
    assert "read-only" in error(env.call("POST", "/api/spaces", read,
                                         json={"name": "x", "sdk": "gradio"}), 403, "forbidden")
    error(env.call("POST", "/api/tokens", read, json={"name": "escalate"}), 403, "forbidden")
    env.create(env.alice, "mine", sdk="gradio")
    error(env.call("POST", "/api/spaces/alice/mine/settings", read, json={"private": True}),
          403, "forbidden")

    assert env.call("DELETE", f"/api/tokens/{token['id']}", env.alice).status_code == 200
    error(env.call("GET", "/api/whoami", read), 401, "unauthorized")
    error(env.call("DELETE", f"/api/tokens/{token['id']}", env.bob), 404, "not_found")
    error(env.call("GET", "/api/whoami", "pod_not-a-real-token"), 401, "unauthorized")


# --- creating, listing, reading ----------------------------------------------------------


def test_create_empty_space(env: Env) -> None:
    space = env.create(env.alice, "Demo_1", sdk="streamlit")

    assert space["id"] == "alice/Demo_1" and space["sdk"] == "streamlit"
    assert space["stage"] == Stage.NO_APP_FILE and space["head_commit"] is None
    assert space["host"] == "http://alice-demo-1.podium.test:8080/"
    # Item 2: the advertised URL is the Space's own host, never the dashboard's origin.
    assert space["url"] == "http://alice-demo-1.podium.test:8080/"
    assert space["git_url"] == "http://podium.test:8080/spaces/alice/Demo_1.git"
    assert space["page"] == "/alice/Demo_1"
    assert (SpaceId("alice", "Demo_1").repo_path(env.settings.repos_dir) / "HEAD").is_file()
    assert env.latest_build("alice/Demo_1") is None
    assert env.call("GET", "/api/spaces/alice/demo_1").json()["id"] == "alice/Demo_1"
    error(env.call("POST", "/api/spaces", env.alice, json={"name": "demo_1", "sdk": "gradio"}),
          409, "conflict")
    assert "sdk" in error(env.call("POST", "/api/spaces", env.alice, json={"name": "n"}),
                          400, "bad_request")


def test_create_from_template_commits_it_and_queues_a_build(env: Env) -> None:
    space = env.create(env.alice, "hello", template="gradio-hello")

    assert space["title"] == "Hello Gradio" and space["sdk"] == "gradio"
    assert space["stage"] == Stage.BUILDING and len(space["head_commit"]) == 40
    build = env.latest_build("alice/hello")
    assert build.status == BuildStatus.QUEUED and build.commit == space["head_commit"]
    job = fetch_job(env.settings, env.conn, build.job_id)
    assert job is not None and job.get_status() == "queued"
    assert job.meta["build_id"] == build.id

    runtime = env.call("GET", "/api/spaces/alice/hello/runtime").json()
    assert runtime["stage"] == "BUILDING" and runtime["sha"] is None
    assert runtime["build"]["id"] == build.id and runtime["build"]["status"] == "QUEUED"
    assert runtime["hardware"] == {"current": "cpu-basic", "requested": "cpu-basic"}
    assert runtime["gcTimeout"] == env.settings.sleep_time
    assert runtime["domains"] == [{"domain": "alice-hello.podium.test", "stage": "PENDING"}]

    error(env.call("POST", "/api/spaces", env.alice, json={"name": "x", "template": "nope"}),
          404, "not_found")
    assert env.record("alice/x") is None  # a failed create leaves nothing behind


def test_admin_creates_for_others_users_only_for_themselves(env: Env) -> None:
    assert env.create(env.admin, "for-bob", owner="bob", sdk="gradio")["owner"] == "bob"
    error(env.call("POST", "/api/spaces", env.alice,
                   json={"name": "x", "owner": "bob", "sdk": "gradio"}), 403, "forbidden")
    error(env.call("POST", "/api/spaces", env.admin,
                   json={"name": "x", "owner": "ghost", "sdk": "gradio"}), 404, "not_found")


def test_list_filters_pages_and_hides_private_spaces(env: Env) -> None:
    for i in range(5):
        env.create(env.alice, f"g{i}", sdk="gradio")
    env.create(env.alice, "stream", sdk="streamlit")
    env.create(env.alice, "hidden", sdk="gradio", private=True)
    env.create(env.bob, "bobs", sdk="gradio")

    def ids(token: str | None = None, **query: Any) -> tuple[set[str], int]:
        body = env.call("GET", "/api/spaces", token, params=query).json()
        return {s["id"] for s in body["items"]}, body["total"]

    public, total = ids(limit=100)
    assert total == 7 and "alice/hidden" not in public
    assert ids(env.alice, limit=100)[1] == 8
    assert ids(env.bob, limit=100)[1] == 7
    assert ids(env.admin, limit=100)[1] == 8
    assert ids(sdk="streamlit") == ({"alice/stream"}, 1)
    assert ids(owner="bob") == ({"bob/bobs"}, 1)
    assert ids(search="strea") == ({"alice/stream"}, 1)
    assert ids(stage="BUILDING") == (set(), 0)
    pages = [ids(env.alice, offset=o, limit=3)[0] for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert set().union(*pages) == ids(env.alice, limit=100)[0]
    assert "limit" in error(env.call("GET", "/api/spaces", params={"limit": 0}), 422,
                            "invalid_request")
    error(env.call("GET", "/api/spaces", params={"sdk": "rust"}), 422, "invalid_request")


def test_private_space_is_404_to_everyone_but_its_owner_and_admins(env: Env) -> None:
    env.create(env.alice, "secret", template="gradio-hello", private=True)
    for path in ["", "/runtime", "/tree", "/variables", "/logs/build", "/logs/run"]:
        for token in (None, env.bob):
            message = error(env.call("GET", f"/api/spaces/alice/secret{path}", token), 404,
                            "not_found")
            assert "alice/secret" in message
        if "/logs/" not in path:  # the owner's log streams stay open: not for a unit here
            assert env.call("GET", f"/api/spaces/alice/secret{path}", env.alice
                            ).status_code == 200, path
    assert env.call("GET", "/api/spaces/alice/secret", env.admin).status_code == 200
    error(env.call("DELETE", "/api/spaces/alice/secret", env.bob), 404, "not_found")
    error(env.call("POST", "/api/spaces/alice/secret/duplicate", env.bob,
                   json={"to_name": "stolen"}), 404, "not_found")
    assert env.record("alice/secret") is not None


def test_changing_a_public_space_needs_its_owner(env: Env) -> None:
    env.create(env.alice, "open", sdk="gradio")
    error(env.call("POST", "/api/spaces/alice/open/settings", None, json={}), 401,
          "unauthorized")
    assert "owner" in error(env.call("POST", "/api/spaces/alice/open/settings", env.bob,
                                     json={"private": True}), 403, "forbidden")
    error(env.call("POST", "/api/spaces/alice/open/secrets", env.bob,
                   json={"key": "K", "value": "v"}), 403, "forbidden")
    error(env.call("GET", "/api/spaces/alice/open/secrets", env.bob), 403, "forbidden")
    error(env.call("GET", "/api/spaces/alice/bad--name"), 422, "invalid_name")


# --- delete, duplicate, settings ---------------------------------------------------------


def test_delete_removes_repository_records_and_queued_job(env: Env) -> None:
    env.create(env.alice, "doomed", template="streamlit-hello")
    build = env.latest_build("alice/doomed")
    env.call("POST", "/api/spaces/alice/doomed/variables", env.alice,
             json={"key": "A", "value": "1"})
    repo = SpaceId("alice", "doomed").repo_path(env.settings.repos_dir)
    assert repo.is_dir()

    assert env.call("DELETE", "/api/spaces/alice/doomed", env.alice).json() == {"ok": True}

    assert not repo.exists() and env.record("alice/doomed") is None
    assert fetch_job(env.settings, env.conn, build.job_id).get_status() == "canceled"
    error(env.call("GET", "/api/spaces/alice/doomed"), 404, "not_found")
    again = env.create(env.alice, "doomed", sdk="gradio")  # the name is free again, empty
    assert again["head_commit"] is None
    assert env.call("GET", "/api/spaces/alice/doomed/variables").json() == {}


def test_duplicate_copies_code_and_variables_but_not_secrets(env: Env) -> None:
    source = env.create(env.alice, "orig", template="gradio-hello")
    env.call("POST", "/api/spaces/alice/orig/variables", env.alice,
             json={"key": "MODEL", "value": "tiny", "description": "which"})
    env.call("POST", "/api/spaces/alice/orig/secrets", env.alice,
             json={"key": "API_KEY", "value": "s3cret"})

    reply = env.call("POST", "/api/spaces/alice/orig/duplicate", env.bob,
                     json={"to_name": "copy"})

    assert reply.status_code == 201, reply.text
    copy = reply.json()
    assert copy["id"] == "bob/copy" and copy["head_commit"] == source["head_commit"]
    assert copy["title"] == "Hello Gradio" and copy["private"] is False
    variables = env.call("GET", "/api/spaces/bob/copy/variables", env.bob).json()
    assert {k: (v["value"], v["description"]) for k, v in variables.items()} == {
        "MODEL": ("tiny", "which")}
    assert env.call("GET", "/api/spaces/bob/copy/secrets", env.bob).json() == []
    build = env.latest_build("bob/copy")
    assert build.status == BuildStatus.QUEUED and build.commit == source["head_commit"]
    tree = env.call("GET", "/api/spaces/bob/copy/tree", env.bob).json()
    assert {e["path"] for e in tree} >= {"app.py", "README.md"}
    error(env.call("POST", "/api/spaces/alice/orig/duplicate", env.bob,
                   json={"to_name": "copy"}), 409, "conflict")


def test_settings_change_the_record_and_the_live_route(env: Env) -> None:
    env.create(env.alice, "tuned", sdk="gradio")
    routes = RouteTable(env.conn)
    routes.put(Route.for_space(SpaceId("alice", "tuned"), upstream=None, sdk="gradio",
                               stage="SLEEPING"))

    reply = env.call("POST", "/api/spaces/alice/tuned/settings", env.alice, json={
        "private": True, "sleep_time": 600, "cpu_limit": 0.5, "memory_limit": "512m"})

    assert reply.status_code == 200, reply.text
    space = reply.json()
    assert (space["private"], space["sleep_time"], space["cpu_limit"],
            space["memory_limit"]) == (True, 600, 0.5, "512m")
    assert routes.get("alice/tuned").private is True  # the proxy closes it at once
    sleeptime = env.call("POST", "/api/spaces/alice/tuned/sleeptime", env.alice,
                         json={"seconds": 0})
    assert sleeptime.json()["gcTimeout"] == 0 and env.record("alice/tuned").sleep_time == 0
    assert "memory_limit" in error(env.call(
        "POST", "/api/spaces/alice/tuned/settings", env.alice, json={"memory_limit": "lots"}),
        422, "invalid_request")
    error(env.call("POST", "/api/spaces/alice/tuned/settings", env.alice,
                   json={"cpu_limit": -1}), 422, "invalid_request")


def test_restart_pause_resume_of_spaces_never_deployed(env: Env) -> None:
    env.create(env.alice, "empty", sdk="gradio")
    assert "no code" in error(env.call("POST", "/api/spaces/alice/empty/restart", env.alice),
                              400, "bad_request")
    env.create(env.alice, "built", template="gradio-hello")
    first = env.latest_build("alice/built")

    factory = env.call("POST", "/api/spaces/alice/built/restart", env.alice,
                       params={"factory": "true"})

    assert factory.status_code == 200, factory.text
    newest = env.latest_build("alice/built")
    assert newest.id != first.id and newest.factory is True
    assert factory.json()["build"]["id"] == newest.id
    paused = env.call("POST", "/api/spaces/alice/built/pause", env.alice).json()
    assert paused["stage"] == "PAUSED" and env.record("alice/built").paused is True
    resumed = env.call("POST", "/api/spaces/alice/built/resume", env.alice).json()
    assert resumed["stage"] == "BUILDING" and env.record("alice/built").paused is False


# --- secrets and variables ---------------------------------------------------------------


def test_secrets_are_write_only_and_encrypted_at_rest(env: Env) -> None:
    env.create(env.alice, "keys", sdk="gradio")
    value = "sk-live-0123456789"
    added = env.call("POST", "/api/spaces/alice/keys/secrets", env.alice,
                     json={"key": "OPENAI_KEY", "value": value, "description": "d"})
    assert added.status_code == 200 and value not in added.text

    listed = env.call("GET", "/api/spaces/alice/keys/secrets", env.alice)
    assert [s["key"] for s in listed.json()] == ["OPENAI_KEY"]
    assert set(listed.json()[0]) == {"key", "updatedAt"} and value not in listed.text
    with env.db.session() as session:
        stored = session.scalar(select(Secret.value_encrypted))
    assert value not in stored and Cipher(env.settings).decrypt(stored) == value

    assert "reserved" in error(env.call("POST", "/api/spaces/alice/keys/secrets", env.alice,
                                        json={"key": "SPACE_ID", "value": "x"}), 400,
                               "bad_request")
    error(env.call("POST", "/api/spaces/alice/keys/variables", env.alice,
                   json={"key": "OPENAI_KEY", "value": "x"}), 409, "conflict")
    assert env.call("DELETE", "/api/spaces/alice/keys/secrets", env.alice,
                    json={"key": "OPENAI_KEY"}).status_code == 200
    assert env.call("GET", "/api/spaces/alice/keys/secrets", env.alice).json() == []
    error(env.call("DELETE", "/api/spaces/alice/keys/secrets", env.alice,
                   json={"key": "OPENAI_KEY"}), 404, "not_found")


def test_variables_round_trip_and_are_readable_with_the_space(env: Env) -> None:
    env.create(env.alice, "vars", sdk="gradio")
    for key, value in (("B", "2"), ("A", "1")):
        reply = env.call("POST", "/api/spaces/alice/vars/variables", env.alice,
                         json={"key": key, "value": value})
        assert reply.status_code == 200 and reply.json()[key]["value"] == value
    env.call("POST", "/api/spaces/alice/vars/variables", env.alice,
             json={"key": "A", "value": "one", "description": "first"})

    variables = env.call("GET", "/api/spaces/alice/vars/variables", env.bob).json()
    assert {k: v["value"] for k, v in variables.items()} == {"A": "one", "B": "2"}
    assert variables["A"]["description"] == "first" and variables["A"]["updatedAt"]
    env.call("DELETE", "/api/spaces/alice/vars/variables", env.alice, json={"key": "B"})
    assert list(env.call("GET", "/api/spaces/alice/vars/variables").json()) == ["A"]
    error(env.call("POST", "/api/spaces/alice/vars/variables", env.alice,
                   json={"key": "1BAD", "value": "x"}), 400, "bad_request")


# --- share links and grants --------------------------------------------------------------


def _grant(location: str, settings: Settings, space_key: str) -> Any:
    parts = urlsplit(location)
    assert parts.path.endswith("/__podium/grant")
    token = parse_qs(parts.query)["token"][0]
    return GrantSigner.from_settings(settings).verify(token, space_key)


def test_share_links_count_views_and_refuse_revoked_expired_and_used_up(env: Env) -> None:
    env.create(env.alice, "shh", sdk="gradio", private=True)
    base = "/api/spaces/alice/shh/share-links"
    made = env.call("POST", base, env.alice, json={"max_views": 2})
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["views"] == 0 and link["max_views"] == 2 and link["url"]
    path = urlsplit(link["url"]).path
    assert path.startswith("/share/alice/shh/shr_")
    listed = env.call("GET", base, env.alice)
    assert listed.json()[0]["url"] is None and path.rsplit("/", 1)[1] not in listed.text
    error(env.call("GET", base, env.bob), 404, "not_found")

    visit = env.client.get(path, follow_redirects=False)
    assert visit.status_code == 303
    location = visit.headers["location"]
    # On the Space's own host, not under the dashboard's origin.
    assert location.startswith("http://alice-shh.podium.test:8080/__podium/grant?")
    grant = _grant(location, env.settings, "alice/shh")
    assert grant is not None and grant.subject.startswith("share:")
    assert _grant(location, env.settings, "alice/other") is None
    assert env.client.get(path, follow_redirects=False).status_code == 303
    assert "maximum" in error(env.client.get(path, follow_redirects=False), 403, "forbidden")
    assert env.call("GET", base, env.alice).json()[0]["views"] == 2

    revoked = env.call("POST", base, env.alice, json={}).json()
    assert env.call("DELETE", f"{base}/{revoked['id']}", env.alice).status_code == 200
    assert "revoked" in error(env.client.get(urlsplit(revoked["url"]).path,
                                             follow_redirects=False), 403, "forbidden")
    expiring = env.call("POST", base, env.alice, json={"expires_in_s": 3600}).json()
    with env.db.session() as session:
        row = session.get(ShareLink, expiring["id"])
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert "expired" in error(env.client.get(urlsplit(expiring["url"]).path,
                                             follow_redirects=False), 403, "forbidden")
    error(env.client.get("/share/alice/shh/shr_guessed", follow_redirects=False), 403,
          "forbidden")
    error(env.client.get(urlsplit(link["url"]).path.replace("shh", "nope"),
                         follow_redirects=False), 404, "not_found")
    error(env.call("DELETE", f"{base}/999999", env.alice), 404, "not_found")


def test_open_sends_owners_of_private_spaces_through_a_grant(env: Env) -> None:
    env.create(env.alice, "priv", sdk="gradio", private=True)
    env.create(env.alice, "pub", sdk="gradio")
    private = env.call("GET", "/api/spaces/alice/priv/open", env.alice, follow_redirects=False)
    assert private.status_code == 302
    location = private.headers["location"]
    # On the Space's host (item 2), short-lived: nothing revokes it before it expires.
    assert location.startswith("http://alice-priv.podium.test:8080/__podium/grant?token=")
    grant = _grant(location, env.settings, "alice/priv")
    assert grant is not None and grant.subject == "alice"
    assert grant.expires - time.time() <= 3600 + 5
    public = env.call("GET", "/api/spaces/alice/pub/open", None, follow_redirects=False)
    assert public.headers["location"] == "http://alice-pub.podium.test:8080/"
    error(env.call("GET", "/api/spaces/alice/priv/open", env.bob), 404, "not_found")


# --- templates and files -----------------------------------------------------------------


def test_templates_are_listed_from_the_templates_folder(env: Env) -> None:
    listed = env.call("GET", "/api/templates").json()
    on_disk = sorted(p.name for p in templates_dir(env.settings).iterdir()
                     if (p / "README.md").is_file())
    assert [t["name"] for t in listed] == on_disk
    for template in listed:
        assert Sdk(template["sdk"]) and template["title"]
        readme = (templates_dir(env.settings) / template["name"] / "README.md").read_text()
        assert f"title: {template['title']}" in readme


def test_tree_and_file_of_a_template_commit(env: Env) -> None:
    space = env.create(env.alice, "files", template="streamlit-hello")
    source = templates_dir(env.settings) / "streamlit-hello"
    tree = env.call("GET", "/api/spaces/alice/files/tree",
                    params={"commit": space["head_commit"]}).json()
    expected = {str(p.relative_to(source)): p.stat().st_size
                for p in source.rglob("*") if p.is_file()}
    assert {e["path"]: e["size"] for e in tree} == expected
    assert {e["type"] for e in tree} == {"file"}

    reply = env.call("GET", "/api/spaces/alice/files/file", params={"path": "app.py"})
    assert reply.content == (source / "app.py").read_bytes()
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["x-content-type-options"] == "nosniff"
    error(env.call("GET", "/api/spaces/alice/files/file", params={"path": "missing.py"}),
          404, "not_found")
    error(env.call("GET", "/api/spaces/alice/files/file", params={"path": "../x"}), 400,
          "bad_request")
    error(env.call("GET", "/api/spaces/alice/files/tree", params={"commit": "f" * 40}), 404,
          "not_found")
    env.create(env.alice, "blank", sdk="gradio")
    assert env.call("GET", "/api/spaces/alice/blank/tree").json() == []
