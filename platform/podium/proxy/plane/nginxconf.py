"""nginx's configuration, rendered from the route table. Pure: routes in, text out.

nginx serves itself only what it can serve exactly as the Python proxy would: plain
requests to a public Space that is running, without Podium's own cookies. It hands every
other request, untouched, to the Python proxy behind it (``@python``): the API, dashboard
and git; sleeping, starting, paused and private Spaces (waking pages, grants); websockets
and event streams (counted there as open streams, which keep a Space awake and a retiring
version alive); and anything an upstream refuses (a swap the config has not seen yet).

Paths follow ``podium.proxy.routing.upstream_path``: Streamlit is always sent the canonical
prefix, Gradio never (it builds its URLs with it), other SDKs the path as sent. nginx
serves Spaces by host only: path URLs (``/spaces/{owner}/{name}/…``) on the main domain go
to the Python proxy, which redirects them to the Space's host, so Space code never runs on
the dashboard's origin (podium.proxy.routing).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from podium.gitserver.paths import GIT_REQUEST
from podium.routes import Route
from podium.spaces.stage import Sdk

# Header names and values written into the config: anything else (quotes, "$", ";",
# braces, control characters) would be nginx syntax, so such a Space stays on Python.
_TOKEN = re.compile(r"^[A-Za-z0-9-]+$")
_VALUE = re.compile(r"^[\x20-\x7e]*$")
_UNSAFE_VALUE = re.compile(r"[\"\\${};]")
_UPSTREAM = re.compile(r"^http://(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)/?$")

# Requests nginx hands over whatever the Space: git's (the Python proxy sends them to the
# git server, or refuses them on a Space's host: never to a Space, which could collect the
# user's credentials), websocket upgrades, event streams (by Accept or by the Gradio
# endpoints that stream), Podium's cookies (the Python proxy strips them), and the proxy's
# own endpoints. $podium_git is podium.gitserver.paths.GIT_REQUEST, rendered: one rule.
assert not set(GIT_REQUEST) & set('"\\;{}'), "GIT_REQUEST must be a plain nginx string"
_GIT_MAP = f'map $request_uri $podium_git {{ default 0; "~*{GIT_REQUEST}" 1; }}'
_HANDOVER_MAP = "\n" + _GIT_MAP + r"""
map $http_upgrade $podium_upgrade { default 1; "" 0; }
map $http_accept $podium_accept { default 0; "~*text/event-stream" 1; }
map $http_cookie $podium_cookie { default 0; "~podium_(session|access)=" 1; }
map $request_uri $podium_uri_stream {
    default 0;
    "~*/(gradio_api/)?(queue/data|queue/join|heartbeat/|stream/)" 1;
    "~*/__podium/" 1;
}
map "$podium_git$podium_upgrade$podium_accept$podium_cookie$podium_uri_stream"
    $podium_handover { default 1; "00000" 0; }
map $http_upgrade $podium_connection { default upgrade; "" ""; }
"""


@dataclass(frozen=True)
class NginxLayout:
    run_dir: Path  # pid file and temp paths
    listen: str  # "0.0.0.0:8080"
    python_port: int  # the Python proxy behind nginx, on 127.0.0.1
    activity_log: Path  # a Space's key per served request (podium.proxy.plane.nginx)
    workers: int = 1  # 0 = auto
    shutdown_timeout: float = 60.0  # how long an old worker may finish its requests


def _q(value: str) -> str:
    return '"' + value + '"'


def served_here(route: Route) -> bool:
    """Whether nginx serves this route's plain requests itself."""
    if not route.serving or route.private or route.upstream is None:
        return False
    if _UPSTREAM.match(route.upstream) is None:
        return False
    return all(
        _TOKEN.match(name) and _VALUE.match(value) and not _UNSAFE_VALUE.search(value)
        for name, value in route.custom_headers.items()
    )


def upstream_name(route: Route) -> str:
    digest = hashlib.sha1(f"{route.space_key} {route.upstream}".encode()).hexdigest()[:16]
    return f"podium_{digest}"


def _server_address(route: Route) -> str:
    match = _UPSTREAM.match(route.upstream or "")
    assert match is not None
    return f"{match['host']}:{match['port']}"


def _common(scheme: str) -> str:
    return f"""
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Proto {scheme};
        proxy_set_header X-Real-IP "";
        proxy_set_header Forwarded "";
        proxy_set_header X-Forwarded-Port "";
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_redirect off;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
        proxy_pass_header Server;
        proxy_pass_header Date;"""


def _python_location(scheme: str) -> str:
    return f"""
    location @python {{
        access_log off;{_common(scheme)}
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $podium_connection;
        proxy_pass http://podium_python$request_uri;
    }}"""


def _space_directives(route: Route, scheme: str, activity_log: Path) -> str:
    """Inside a Space's location: hand over, headers both ways, activity."""
    lines = [
        "if ($podium_handover) { return 418; }",
        f"set $podium_space {_q(route.space_key)};",
        f"access_log {activity_log} podium_activity buffer=32k flush=1s;",
        'proxy_set_header Connection "";',
        # Served by host only: no prefix, and a client's claim of one is dropped.
        'proxy_set_header X-Forwarded-Prefix "";',
        "proxy_next_upstream off;",
        "proxy_hide_header X-Frame-Options;",
    ]
    if route.disable_embedding:
        lines += [
            "add_header X-Frame-Options DENY always;",
            "add_header Content-Security-Policy \"frame-ancestors 'none'\" always;",
        ]
    for name, value in route.custom_headers.items():
        lines += [f"proxy_hide_header {name};", f"add_header {name} {_q(value)} always;"]
    return _common(scheme) + "".join(f"\n        {line}" for line in lines)


def _host_server(route: Route, layout: NginxLayout, domain: str, scheme: str) -> str:
    canonical = route.prefix  # "/spaces/owner/name", lower case
    pattern = re.escape(canonical)
    rewrite = ""
    if route.sdk in (Sdk.GRADIO, Sdk.STREAMLIT):
        # By host, the app's own URLs carry the canonical prefix: strip it (any case).
        rewrite = (
            f'\n        if ($request_uri ~* "^{pattern}(?<podium_tail>/.*)$") '
            "{ set $podium_target $podium_tail; }"
            f'\n        if ($request_uri ~* "^{pattern}(?<podium_query>\\?.*)?$") '
            "{ set $podium_target /$podium_query; }"
        )
    base = canonical if route.sdk == Sdk.STREAMLIT else ""
    return f"""
server {{
    listen {layout.listen};
    server_name {route.subdomain}.{domain};
    error_page 418 502 = @python;
    location / {{{_space_directives(route, scheme, layout.activity_log)}
        set $podium_target $request_uri;{rewrite}
        proxy_pass http://{upstream_name(route)}{base}$podium_target;
    }}{_python_location(scheme)}
}}"""


def preamble(run: Path, workers: int, shutdown_timeout: float) -> str:
    """The process settings and the start of the http block, shared by both nginx planes:
    everything nginx writes stays in ``run``, logs go to the proxy's stderr."""
    count = workers if workers > 0 else "auto"
    return f"""worker_processes {count};
daemon off;
pid {run}/nginx.pid;
error_log stderr warn;
worker_shutdown_timeout {int(shutdown_timeout)}s;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    server_tokens off;
    client_max_body_size 0;
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000;"""


def render(routes: list[Route], layout: NginxLayout, *, domain: str, scheme: str) -> str:
    here = [r for r in routes if served_here(r)]
    run = layout.run_dir
    upstreams = "".join(
        f"\n    upstream {upstream_name(r)} {{ server {_server_address(r)}; keepalive 32; }}"
        for r in here
    )
    hosts = "".join(_host_server(r, layout, domain, scheme) for r in here)
    return f"""# Written by podium.proxy.plane.nginx from the route table: do not edit.
{preamble(run, layout.workers, layout.shutdown_timeout)}
    server_names_hash_bucket_size 128;
    server_names_hash_max_size 65536;
    log_format podium_activity $podium_space;
{_HANDOVER_MAP}
    upstream podium_python {{ server 127.0.0.1:{layout.python_port}; keepalive 64; }}{upstreams}

    # The main domain, and any host that is not a Space's: all to the Python proxy (the
    # dashboard, API and git; path URLs, which it redirects to the Space's host).
    server {{
        listen {layout.listen} default_server;
        server_name {domain};
        error_page 418 502 = @python;
        location / {{ set $podium_space ""; return 418; }}{_python_location(scheme)}
    }}
{hosts}
}}
"""
