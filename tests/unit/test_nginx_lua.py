"""The nginx-lua plane's pure parts: which Spaces nginx serves and the shared-dict records
and updates pushed to it. That nginx accepts the rendered config is checked where the nginx
binary runs, tests/integration/test_proxy_nginx_lua.py."""

from __future__ import annotations

from pathlib import Path

from podium.gitserver.paths import GIT_REQUEST
from podium.names import SpaceId
from podium.proxy.plane import nginxlua
from podium.routes import Route
from podium.spaces.stage import Sdk, Stage


def route(owner: str = "alice", name: str = "demo", **kw: object) -> Route:
    values: dict[str, object] = {"upstream": "http://172.18.0.5:7860", "sdk": Sdk.GRADIO,
                                 "stage": Stage.RUNNING, **kw}
    return Route.for_space(SpaceId(owner, name), **values)  # type: ignore[arg-type]


def layout_in(tmp_path: Path, modules: Path) -> nginxlua.NginxLayout:
    return nginxlua.NginxLayout(
        run_dir=tmp_path, listen="127.0.0.1:18080", python_port=9001,
        activity_log=tmp_path / "activity.log", workers=2, control_port=9002, token="ab12",
        modules=modules)


def test_only_public_running_spaces_on_an_address_are_served_by_nginx() -> None:
    assert nginxlua.served_here(route())
    assert nginxlua.served_here(route(upstream="http://[fd00::5]:7860"))
    assert not nginxlua.served_here(route(private=True))
    assert not nginxlua.served_here(route(upstream=None, stage=Stage.SLEEPING))
    assert not nginxlua.served_here(route(stage=Stage.PAUSED))
    # balancer_by_lua takes addresses only: a name stays on the Python proxy.
    assert not nginxlua.served_here(route(upstream="http://space-a:7860"))
    # Any printable value is data here, not config syntax; a tab or newline is not.
    assert nginxlua.served_here(route(custom_headers={"x-a": 'a"; $host {}'}))
    assert not nginxlua.served_here(route(custom_headers={"x-a": "a\tb"}))
    assert not nginxlua.served_here(route(custom_headers={"x a": "b"}))
    # Within what a record can say, the rule is the route's own, the one the Python fast
    # path serves by too (podium.routes.Route.served_plainly).
    for stage in Stage:
        for private in (False, True):
            one = route(stage=stage, private=private,
                        upstream="http://172.18.0.5:7860" if stage != Stage.SLEEPING else None)
            assert nginxlua.served_here(one) == one.served_plainly, (stage, private)


def test_item1_git_requests_are_handed_over_by_the_one_rule(tmp_path: Path) -> None:
    # The config renders podium.gitserver.paths.GIT_REQUEST (the rule the Python proxy
    # routes by) into $podium_git, and any "1" there hands the request to the Python proxy.
    text = nginxlua.render(layout_in(tmp_path, tmp_path), domain="example.org", scheme="http")
    assert f'map $request_uri $podium_git {{ default 0; "~*{GIT_REQUEST}" 1; }}' in text
    assert 'map "$podium_git$podium_upgrade' in text
    assert '$podium_handover { default 1; "00000" 0; }' in text


def test_records_by_host_carry_what_the_lua_side_needs() -> None:
    streamlit = route("Bob", "St_App", sdk=Sdk.STREAMLIT, disable_embedding=True,
                      custom_headers={"cross-origin-opener-policy": "same-origin"})
    docker = route("dan", "api", sdk=Sdk.DOCKER, upstream="http://172.18.0.9:8000")
    entries = nginxlua.entries([streamlit, docker, route("carol", "x", private=True)])
    # By host only (item 2: path URLs are the Python proxy's, which redirects them).
    assert set(entries) == {f"h:{streamlit.subdomain}", f"h:{docker.subdomain}"}
    assert entries[f"h:{streamlit.subdomain}"] == (
        "bob/st_app\t172.18.0.5\t7860\t/spaces/bob/st_app\tsbd\t"
        "cross-origin-opener-policy\tsame-origin")
    assert entries[f"h:{docker.subdomain}"] == "dan/api\t172.18.0.9\t8000\t/spaces/dan/api\t-"


def test_changes_send_only_what_differs() -> None:
    old = {"h:a": "1", "p:a": "1", "h:b": "2"}
    new = {"h:a": "1", "p:a": "3", "h:c": "4"}
    assert nginxlua.changes(old, new).split("\n") == ["S\tp:a\t3", "S\th:c\t4", "D\th:b"]
    assert nginxlua.changes(new, new) == ""
