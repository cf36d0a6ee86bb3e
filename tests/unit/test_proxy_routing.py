"""Routing decisions: which Space or the API, and the path each upstream sees."""

from __future__ import annotations

import pytest

from podium.config import Settings
from podium.names import SpaceId
from podium.proxy.routing import (
    GitOnSpaceHost,
    SpaceTarget,
    ToApi,
    ToSpaceHost,
    resolve,
    upstream_path,
)
from podium.routes import Route, container_env
from podium.spaces.stage import Sdk, Stage

DOMAIN = "podium.example"


def route(sdk: str, owner: str = "Alice", name: str = "Demo") -> Route:
    return Route.for_space(SpaceId(owner, name), upstream="http://10.0.0.2:7860", sdk=sdk,
                           stage=Stage.RUNNING)


@pytest.mark.parametrize("host", ["alice-demo.podium.example", "Alice-Demo.PODIUM.example:8080",
                                  "alice-demo.podium.example."])
def test_host_routing(host: str) -> None:
    assert resolve(host, "/x?y=1", DOMAIN) == SpaceTarget("alice-demo", "/x?y=1")


@pytest.mark.parametrize("raw, space, rest", [
    ("/spaces/Alice/Demo/", SpaceId("Alice", "Demo"), "/"),
    ("/spaces/alice/demo/a/b%2Fc?q=1", SpaceId("alice", "demo"), "/a/b%2Fc?q=1"),
    ("/spaces/alice/my_app.v2/run", SpaceId("alice", "my_app.v2"), "/run"),
    ("/spaces/alice/demo?x=1", SpaceId("alice", "demo"), "/?x=1"),
    ("/spaces/alice/demo", SpaceId("alice", "demo"), "/"),
    ("/spaces/alice/demo/app/__podium/status", SpaceId("alice", "demo"), "/app/__podium/status"),
])
def test_item2_path_urls_only_redirect_to_the_space_host(
    raw: str, space: SpaceId, rest: str
) -> None:
    # Never served on the dashboard's origin (any host that is not a Space's): path and
    # query kept for the Space's own host.
    for host in ("podium.example:8080", "127.0.0.1:8080", ""):
        assert resolve(host, raw, DOMAIN) == ToSpaceHost(space, rest)


def test_item2_space_origin_is_the_space_host() -> None:
    settings = Settings(domain=DOMAIN, public_port=8080)
    assert settings.space_origin(SpaceId("Alice", "Demo")) == (
        "http://alice-demo.podium.example:8080")
    settings = Settings(domain=DOMAIN, public_port=443, scheme="https")
    assert settings.space_origin(SpaceId("a", "b")) == "https://a-b.podium.example"


@pytest.mark.parametrize("raw", [
    "/", "/api/spaces/alice/demo", "/login", "/spaces", "/spaces/alice",
    "/spaces/alice/demo.git/info/refs?service=git-upload-pack",
    "/spaces/alice/demo/info/refs?service=git-receive-pack",
    "/spaces/alice/demo/git-upload-pack", "/spaces/alice/demo/git-receive-pack",
    # Git asks "{url}/info/refs" whatever the URL: no Space may answer it (item 1).
    "/spaces/alice/demo/sub/info/refs?service=git-upload-pack",
    "/spaces/alice/demo?x=1/info/refs&service=git-upload-pack",
    "/spaces/alice/demo/INFO/refs", "/spaces/alice/demo/.git/info/lfs/objects/batch",
    "/spaces/-bad-/demo/", "/spaces/alice/..%2F..%2Fetc/",
    # huggingface_hub's downloads: the API's sandboxed attachments (issue 13 item 1).
    "/spaces/alice/demo/resolve/main/app.py", "/spaces/Alice/Demo/resolve/abc123/a/b.txt",
])
def test_everything_else_goes_to_the_api(raw: str) -> None:
    assert resolve(DOMAIN, raw, DOMAIN) == ToApi()


@pytest.mark.parametrize("raw", [
    "/info/refs?service=git-upload-pack", "/git-upload-pack", "/git-receive-pack",
    "/spaces/alice/demo/info/refs?service=git-upload-pack", "/a/info/refs",
    "/?x=1/info/refs&service=git-upload-pack", "/.git/info/lfs/locks/verify",
])
def test_item1_git_on_a_space_host_is_refused(raw: str) -> None:
    assert resolve("alice-demo.podium.example", raw, DOMAIN) == GitOnSpaceHost("alice-demo")


@pytest.mark.parametrize("host", ["podium.example", "evil.com", "a.b.podium.example", "",
                                  "-x.podium.example"])
def test_hosts_that_are_not_spaces(host: str) -> None:
    assert not isinstance(resolve(host, "/", DOMAIN), SpaceTarget)


def test_control_endpoints() -> None:
    target = resolve("alice-demo.podium.example", "/__podium/status?x", DOMAIN)
    assert isinstance(target, SpaceTarget) and target.control == "status"
    target = resolve("alice-demo.podium.example", "/app/__podium/status", DOMAIN)
    assert isinstance(target, SpaceTarget) and target.control is None


@pytest.mark.parametrize("sdk, rest, want", [
    # Streamlit always serves under the canonical (lower-case) prefix.
    (Sdk.STREAMLIT, "/_stcore/stream", "/spaces/alice/demo/_stcore/stream"),
    (Sdk.STREAMLIT, "/spaces/Alice/Demo/_stcore/health", "/spaces/alice/demo/_stcore/health"),
    (Sdk.STREAMLIT, "/?embed=true", "/spaces/alice/demo/?embed=true"),
    # Gradio serves at "/"; URLs it built with its root path lose the prefix.
    (Sdk.GRADIO, "/gradio_api/info", "/gradio_api/info"),
    (Sdk.GRADIO, "/spaces/alice/demo/gradio_api/info", "/gradio_api/info"),
    (Sdk.GRADIO, "/spaces/alice/demo?x=1", "/?x=1"),
    (Sdk.GRADIO, "/spaces/alice/demonic", "/spaces/alice/demonic"),
    (Sdk.GRADIO, "/config", "/config"),
    # Other SDKs see exactly the path sent.
    (Sdk.DOCKER, "/spaces/alice/demo/x", "/spaces/alice/demo/x"),
    (Sdk.STATIC, "/index.html", "/index.html"),
])
def test_upstream_path(sdk: str, rest: str, want: str) -> None:
    assert upstream_path(SpaceTarget("x", rest), route(sdk)) == want


def test_container_env_matches_the_prefix_the_proxy_sends() -> None:
    space = SpaceId("Alice", "Demo")
    assert container_env(space, Sdk.STREAMLIT) == {
        "STREAMLIT_SERVER_BASE_URL_PATH": "spaces/alice/demo"}
    assert container_env(space, Sdk.GRADIO) == {"GRADIO_ROOT_PATH": "/spaces/alice/demo"}
    assert container_env(space, Sdk.DOCKER) == {}
    assert route(Sdk.STREAMLIT).prefix == "/" + container_env(space, Sdk.STREAMLIT)[
        "STREAMLIT_SERVER_BASE_URL_PATH"]


def test_route_json_round_trip_ignores_unknown_fields() -> None:
    original = route(Sdk.GRADIO)
    original.custom_headers["Cross-Origin-Embedder-Policy"] = "require-corp"
    data = original.to_json().replace('"private"', '"future_field": 1, "private"')
    assert Route.from_json(data) == original


@pytest.mark.parametrize("stage, upstream, serving", [
    (Stage.RUNNING, "http://x:1", True), (Stage.RUNNING_BUILDING, "http://x:1", True),
    (Stage.RUNNING, None, False), (Stage.SLEEPING, "http://x:1", False), ("BOGUS", "h", False),
])
def test_serving(stage: str, upstream: str | None, serving: bool) -> None:
    r = route(Sdk.GRADIO)
    r.stage, r.upstream = stage, upstream
    assert r.serving is serving
