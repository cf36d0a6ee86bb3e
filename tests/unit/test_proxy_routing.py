"""Routing decisions: which Space or the API, and the path each upstream sees."""

from __future__ import annotations

import pytest

from podium.names import SpaceId
from podium.proxy.routes import Route, container_env
from podium.proxy.routing import (
    GitOnSpaceHost,
    Redirect,
    SpaceTarget,
    ToApi,
    resolve,
    upstream_path,
)
from podium.spaces.stage import Sdk, Stage

DOMAIN = "podium.example"


def route(sdk: str, owner: str = "Alice", name: str = "Demo") -> Route:
    return Route.for_space(SpaceId(owner, name), upstream="http://10.0.0.2:7860", sdk=sdk,
                           stage=Stage.RUNNING)


@pytest.mark.parametrize("host", ["alice-demo.podium.example", "Alice-Demo.PODIUM.example:8080",
                                  "alice-demo.podium.example."])
def test_host_routing(host: str) -> None:
    assert resolve(host, "/x?y=1", DOMAIN) == SpaceTarget("host", "alice-demo", "/x?y=1", "")


@pytest.mark.parametrize("raw, lookup, rest, prefix", [
    ("/spaces/Alice/Demo/", "alice/demo", "/", "/spaces/Alice/Demo"),
    ("/spaces/alice/demo/a/b%2Fc?q=1", "alice/demo", "/a/b%2Fc?q=1", "/spaces/alice/demo"),
    ("/spaces/alice/my_app.v2/run", "alice/my_app.v2", "/run", "/spaces/alice/my_app.v2"),
])
def test_path_routing(raw: str, lookup: str, rest: str, prefix: str) -> None:
    assert resolve("podium.example:8080", raw, DOMAIN) == SpaceTarget("path", lookup, rest, prefix)


def test_path_without_slash_redirects_keeping_query() -> None:
    assert resolve(DOMAIN, "/spaces/alice/demo?x=1", DOMAIN) == Redirect("/spaces/alice/demo/?x=1")
    assert resolve(DOMAIN, "/spaces/alice/demo", DOMAIN) == Redirect("/spaces/alice/demo/")


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
    target = resolve(DOMAIN, "/spaces/alice/demo/app/__podium/status", DOMAIN)
    assert isinstance(target, SpaceTarget) and target.control is None


@pytest.mark.parametrize("sdk, by, rest, want", [
    # Streamlit always serves under the canonical (lower-case) prefix.
    (Sdk.STREAMLIT, "host", "/_stcore/stream", "/spaces/alice/demo/_stcore/stream"),
    (Sdk.STREAMLIT, "host", "/spaces/Alice/Demo/_stcore/health",
     "/spaces/alice/demo/_stcore/health"),
    (Sdk.STREAMLIT, "path", "/?embed=true", "/spaces/alice/demo/?embed=true"),
    # Gradio serves at "/"; by host, URLs it built with its root path lose the prefix.
    (Sdk.GRADIO, "host", "/gradio_api/info", "/gradio_api/info"),
    (Sdk.GRADIO, "host", "/spaces/alice/demo/gradio_api/info", "/gradio_api/info"),
    (Sdk.GRADIO, "host", "/spaces/alice/demo?x=1", "/?x=1"),
    (Sdk.GRADIO, "host", "/spaces/alice/demonic", "/spaces/alice/demonic"),
    (Sdk.GRADIO, "path", "/config", "/config"),
    # Other SDKs see exactly the path below the prefix.
    (Sdk.DOCKER, "host", "/spaces/alice/demo/x", "/spaces/alice/demo/x"),
    (Sdk.STATIC, "path", "/index.html", "/index.html"),
])
def test_upstream_path(sdk: str, by: str, rest: str, want: str) -> None:
    target = SpaceTarget(by, "x", rest, "" if by == "host" else "/spaces/Alice/Demo")  # type: ignore[arg-type]
    assert upstream_path(target, route(sdk)) == want


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
