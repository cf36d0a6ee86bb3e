"""Likes through the real API app: huggingface_hub's calls (``unlike``,
``list_liked_repos``, ``list_repo_likers``, the ``likes`` of ``space_info`` and
``list_spaces``), the Hub's POST like route, one like per user however often it is sent,
private Spaces hidden, and the count and pressed button on the dashboard's pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tests.integration.api_helpers import ADMIN_PASSWORD, PASSWORD, ServedApp, api_settings
from tests.integration.test_api_git import token_for

pytestmark = pytest.mark.redis


@pytest.fixture
def server(tmp_path: Path, redis_url: str, redis_conn: redis.Redis):  # type: ignore[no-untyped-def]
    settings = api_settings(tmp_path, redis_url)
    with ServedApp(settings) as served:
        admin = token_for(served.url, "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=served.url, headers=bearer(admin)) as http:
            for user in ("alice", "bob"):
                assert http.post("/api/users", json={"username": user,
                                                     "password": PASSWORD}).status_code == 201
        yield served


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def signed_in(url: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        assert client.post("/api/login", json={"username": username,
                                               "password": PASSWORD}).status_code == 200
        yield client


def like_count(page: str) -> tuple[str, int]:
    found = re.search(r'data-like="[^"]*" aria-pressed="(true|false)"[^>]*>.*?'
                      r"data-like-count>(\d+)<", page, re.S)
    assert found, page[:2000]
    return found[1], int(found[2])


def test_one_like_per_user_in_the_hubs_routes_and_on_the_pages(server) -> None:  # type: ignore[no-untyped-def]
    alice = HfApi(endpoint=server.url, token=token_for(server.url, "alice", PASSWORD))
    bob_token = token_for(server.url, "bob", PASSWORD)
    bob = HfApi(endpoint=server.url, token=bob_token)
    alice.create_repo("alice/demo", repo_type="space", space_sdk="static")
    alice.create_repo("alice/secret", repo_type="space", space_sdk="static", private=True)
    assert alice.space_info("alice/demo").likes == 0

    with httpx.Client(base_url=server.url, headers=bearer(bob_token)) as http:
        for _ in range(3):  # a repeated like is still one
            answer = http.post("/api/spaces/alice/demo/like")
            assert answer.status_code == 200 and answer.json() == {"liked": True, "likes": 1}
        # A private Space bob may not see is missing, for likes too.
        assert http.post("/api/spaces/alice/secret/like").status_code == 404
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.post("/api/spaces/alice/demo/like").status_code == 401
    read_only = httpx.post(f"{server.url}/api/tokens", headers=bearer(bob_token),
                           json={"name": "ro", "scope": "read"}).json()["token"]
    assert httpx.post(f"{server.url}/api/spaces/alice/demo/like",
                      headers=bearer(read_only)).status_code == 403
    with signed_in(server.url, "alice") as http:
        assert http.post("/api/spaces/alice/demo/like").json()["likes"] == 2
        assert http.post("/api/spaces/alice/secret/like").json()["likes"] == 1

    assert alice.space_info("alice/demo").likes == 2
    listed = {s.id: s.likes for s in alice.list_spaces(author="alice")}
    assert listed == {"alice/demo": 2, "alice/secret": 1}
    assert [s.id for s in alice.list_spaces(author="alice", sort="likes")][0] == "alice/demo"
    assert {u.username for u in bob.list_repo_likers("alice/demo", repo_type="space")} == {
        "alice", "bob"}
    assert bob.list_liked_repos("bob").spaces == ["alice/demo"]
    assert set(alice.list_liked_repos("alice").spaces) == {"alice/demo", "alice/secret"}
    # Others do not learn of alice's private Space through her likes.
    assert bob.list_liked_repos("alice").spaces == ["alice/demo"]
    with pytest.raises(RepositoryNotFoundError):
        list(bob.list_repo_likers("alice/secret", repo_type="space"))

    # The dashboard: the count on the gallery card and the Space page, the button pressed
    # for whoever liked.
    with signed_in(server.url, "bob") as http:
        assert like_count(http.get("/alice/demo").text) == ("true", 2)
        gallery = http.get("/").text
        assert re.search(r'data-space-id="alice/demo".*?♥</span> 2<', gallery, re.S)
        bob.unlike("alice/demo", repo_type="space")
        assert like_count(http.get("/alice/demo").text) == ("false", 1)
        bob.unlike("alice/demo", repo_type="space")  # unliking twice changes nothing
    assert alice.space_info("alice/demo").likes == 1
    assert bob.list_liked_repos("bob").spaces == []
    with signed_in(server.url, "alice") as http:
        assert like_count(http.get("/alice/demo").text) == ("true", 1)
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=server.url, token=False).unlike("alice/demo", repo_type="space")
    # Deleting a Space deletes its likes with it.
    alice.delete_repo("alice/secret", repo_type="space")
    assert alice.list_liked_repos("alice").spaces == ["alice/demo"]
