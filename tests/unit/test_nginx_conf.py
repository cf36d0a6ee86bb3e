"""nginx's config as rendered from routes: which Spaces nginx serves itself, and that the
text is a config nginx accepts (checked with `nginx -t`, the real binary)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from podium.names import SpaceId
from podium.proxy.plane.nginxconf import NginxLayout, render, served_here, upstream_name
from podium.routes import Route
from podium.spaces.stage import Sdk, Stage
from tests.conftest import require


def route(owner: str = "alice", name: str = "demo", **kw: object) -> Route:
    values: dict[str, object] = {"upstream": "http://172.18.0.5:7860", "sdk": Sdk.GRADIO,
                                 "stage": Stage.RUNNING, **kw}
    return Route.for_space(SpaceId(owner, name), **values)  # type: ignore[arg-type]


def test_only_public_running_plain_http_spaces_are_served_by_nginx() -> None:
    assert served_here(route())
    assert served_here(route(stage=Stage.RUNNING_BUILDING))
    assert not served_here(route(private=True))  # grants are checked by the Python proxy
    assert not served_here(route(upstream=None, stage=Stage.SLEEPING))  # waking page
    assert not served_here(route(stage=Stage.PAUSED))
    assert not served_here(route(upstream="https://172.18.0.5:7860"))
    # Header values that would be nginx syntax keep the Space on the Python proxy.
    assert served_here(route(custom_headers={"cross-origin-opener-policy": "same-origin"}))
    assert not served_here(route(custom_headers={"x-a": 'a"; return 200 "pwned'}))
    assert not served_here(route(custom_headers={"x-a": "$host"}))
    assert not served_here(route(custom_headers={"x a": "b"}))


def test_render_routes_by_host_only(tmp_path: Path) -> None:
    layout = NginxLayout(tmp_path, "127.0.0.1:8080", 9001, tmp_path / "activity.log")
    gradio = route("Alice", "Demo.v2")
    streamlit = route("bob", "st_app", sdk=Sdk.STREAMLIT, upstream="http://172.18.0.6:8501")
    private = route("carol", "secret", private=True)
    text = render([gradio, streamlit, private], layout, domain="example.org", scheme="https")
    assert f"server_name {gradio.subdomain}.example.org;" in text
    assert f"proxy_pass http://{upstream_name(streamlit)}/spaces/bob/st_app$podium_target;" \
        in text
    assert f"proxy_pass http://{upstream_name(gradio)}$podium_target;" in text
    # Item 2: no path URL is served on the main domain; the Python proxy redirects them.
    assert "location ^~ /spaces/" not in text and "podium_path_rest" not in text
    assert "carol" not in text
    assert "X-Forwarded-Proto https;" in text
    assert "upstream podium_python { server 127.0.0.1:9001;" in text


def test_rendered_config_is_accepted_by_nginx(tmp_path: Path) -> None:
    require(shutil.which("nginx") is not None, "nginx is not installed (nginx-light)")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / sub).mkdir(parents=True)
    layout = NginxLayout(tmp_path, "127.0.0.1:18080", 9001, tmp_path / "activity.log", 2)
    routes = [
        route("Alice", "Demo.v2", disable_embedding=True),
        route("bob", "st_app", sdk=Sdk.STREAMLIT,
              custom_headers={"cross-origin-embedder-policy": "require-corp"}),
        route("dan", "static-site", sdk=Sdk.STATIC),
    ]
    for routes_now in ([], routes):  # with no Space at all, too
        conf = tmp_path / "nginx.conf"
        conf.write_text(render(routes_now, layout, domain="localhost", scheme="http"))
        check = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e",
                                "stderr"], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr


def test_item1_git_requests_are_handed_over_by_the_one_rule(tmp_path: Path) -> None:
    # Both nginx planes render podium.gitserver.paths.GIT_REQUEST (the rule the Python proxy
    # routes by) into $podium_git, and any "1" there hands the request to the Python proxy.
    from podium.gitserver.paths import GIT_REQUEST
    from podium.proxy.plane import nginxlua

    layout = NginxLayout(tmp_path, "127.0.0.1:8080", 9001, tmp_path / "activity.log")
    lua = nginxlua.LuaLayout(tmp_path, "127.0.0.1:8080", 9001, tmp_path / "activity.log",
                             control_port=9002, token="ab", modules=tmp_path)
    for text in (render([route()], layout, domain="example.org", scheme="http"),
                 nginxlua.render(lua, domain="example.org", scheme="http")):
        assert f'map $request_uri $podium_git {{ default 0; "~*{GIT_REQUEST}" 1; }}' in text
        assert 'map "$podium_git$podium_upgrade' in text
        assert '$podium_handover { default 1; "00000" 0; }' in text
