"""The nginx-lua data plane's pure parts: its one config (``nginx.conf.j2``, rendered once)
and the shared-dict records of the routes nginx serves itself. Routes in, text out;
podium.proxy.plane.nginx runs them.

nginx is configured once, for every Space there will ever be: one generic server looks the
Space up by host in a ``lua_shared_dict`` (``podium_plane.lua``) and picks the upstream in
``balancer_by_lua`` (one ``upstream`` with a keepalive pool, essential for throughput). The
sync thread pushes route changes into the dict through a loopback-only control server; all
workers share the dict, so one POST updates them all, and no connection is ever closed for
a route change (a reload, which the plane before this one did per change, makes the old
workers close their idle keep-alive connections and resets requests arriving on them).

nginx serves itself plain requests to the Spaces ``served_here`` names, by host only (path
URLs go to the Python proxy, which redirects them to the Space's host: Space code never runs
on the dashboard's origin), never a git request (the ``$podium_handover`` map, with
podium.gitserver.paths' rule in it). Every other request goes, untouched, to the Python
proxy behind it (``@python``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from podium.gitserver.paths import GIT_REQUEST
from podium.routes import Route
from podium.spaces.stage import Sdk

HERE = Path(__file__).parent
# Written into Lua string literals: anything else could end the literal.
_LITERAL = re.compile(r"^[A-Za-z0-9.:_-]*$")
# Header names and values carried in a record: printable ASCII (a tab or newline would
# break the record, CR/LF the response).
_TOKEN = re.compile(r"^[A-Za-z0-9-]+$")
_VALUE = re.compile(r"^[\x20-\x7e]*$")
_UPSTREAM = re.compile(r"^http://(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)/?$")
assert not set(GIT_REQUEST) & set('"\\;{}'), "GIT_REQUEST must be a plain nginx string"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE)), autoescape=False,
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


# A file path inside a quoted nginx string: no quote, backslash, "$" or control character.
_PATH = re.compile(r'^[^"\\$\x00-\x1f\x7f]+$')


@dataclass(frozen=True, kw_only=True)
class Tls:
    """What the public server needs to terminate TLS (podium.proxy.plane.tls checks the
    files first), and the plain-HTTP listener that redirects to it."""

    cert: Path
    key: Path
    https_port: int  # the public port, written into the redirects when not 443
    http_listen: str | None = None  # "0.0.0.0:80": 308 to https; None = no plain port
    hsts_max_age: int = 0  # 0 = no Strict-Transport-Security header


@dataclass(frozen=True, kw_only=True)
class NginxLayout:
    run_dir: Path  # pid file and temp paths
    listen: str  # "0.0.0.0:8080"
    python_port: int  # the Python proxy behind nginx, on 127.0.0.1
    activity_log: Path  # a Space's key per served request (podium.proxy.plane.nginx)
    control_port: int  # loopback: route updates from the sync thread
    token: str  # the sync thread's X-Podium-Token (hex)
    modules: Path  # where ndk_http_module.so and ngx_http_lua_module.so are
    # Page visits nginx served (podium.proxy.plane.visits); None = not logged.
    visit_log: Path | None = None
    workers: int = 1  # 0 = auto
    shutdown_timeout: float = 60.0  # how long an old worker may finish its requests
    dict_mb: int = 32  # ~200 bytes a Space (by host): >100k Spaces
    tls: Tls | None = None  # None: the public server speaks plain HTTP


MODULES = ("ndk_http_module.so", "ngx_http_lua_module.so")  # ndk first: lua needs it


def _peer(route: Route) -> tuple[str, str] | None:
    match = _UPSTREAM.match(route.upstream or "")
    if match is None:
        return None
    host = match["host"]
    try:
        # balancer_by_lua cannot resolve names: an upstream by name stays on Python.
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return host, match["port"]


def served_here(route: Route) -> bool:
    """Whether nginx serves this route's plain requests itself: the Space is served plainly
    (podium.routes, the one rule) and its record can say all of it."""
    if not route.served_plainly or _peer(route) is None:
        return False
    return all(_TOKEN.match(name) and _VALUE.match(value)
               for name, value in route.custom_headers.items())


def record(route: Route) -> str:
    peer = _peer(route)
    assert peer is not None
    flags = ""
    if route.sdk in (Sdk.GRADIO, Sdk.STREAMLIT):
        flags += "s"
    if route.sdk == Sdk.STREAMLIT:
        flags += "b"
    if route.disable_embedding:
        flags += "d"
    fields = [route.space_key, *peer, route.prefix, flags or "-"]
    for name, value in route.custom_headers.items():
        fields += [name, value]
    return "\t".join(fields)


def entries(routes: list[Route]) -> dict[str, str]:
    """The shared dict as it should be: a Space nginx serves, by host."""
    return {f"h:{route.subdomain}": record(route) for route in routes if served_here(route)}


def changes(old: dict[str, str], new: dict[str, str]) -> str:
    """The update body that turns the dict ``old`` into ``new``."""
    lines = [f"S\t{key}\t{value}" for key, value in new.items() if old.get(key) != value]
    lines += [f"D\t{key}" for key in old if key not in new]
    return "\n".join(lines)


def _literal(value: str) -> str:
    if _LITERAL.match(value) is None:
        raise ValueError(f"not a safe Lua literal: {value!r}")
    return value


def _path(path: Path) -> Path:
    if _PATH.match(str(path)) is None:
        raise ValueError(f"not a path nginx can be given: {str(path)!r}")
    return path


def render(layout: NginxLayout, *, domain: str, scheme: str) -> str:
    tls = layout.tls
    if tls is not None:
        assert scheme == "https", "TLS settings make the scheme https (Settings.tls_rule)"
        tls = Tls(cert=_path(tls.cert.resolve()), key=_path(tls.key.resolve()),
                  https_port=tls.https_port, http_listen=tls.http_listen,
                  hsts_max_age=tls.hsts_max_age)
    return _TEMPLATES.get_template("nginx.conf.j2").render(
        modules=[layout.modules / name for name in MODULES],
        workers=layout.workers if layout.workers > 0 else "auto",
        run=layout.run_dir, shutdown_timeout=int(layout.shutdown_timeout),
        dict_mb=layout.dict_mb, lua_dir=HERE,
        suffix=_literal("." + domain.lower().rstrip(".")), token=_literal(layout.token),
        git_request=GIT_REQUEST, python_port=layout.python_port, listen=layout.listen,
        scheme=scheme, activity_log=layout.activity_log, control_port=layout.control_port,
        visit_log=layout.visit_log,
        tls=tls, https_suffix="" if tls is None or tls.https_port == 443 else
        f":{tls.https_port}",
    )
