"""nginx with Lua (Debian's libnginx-mod-http-lua): one static config, routes in shared memory.

Why: the reload-based plane (podium.proxy.plane.nginxconf) re-renders nginx.conf and sends
SIGHUP on every route change, and every reload makes the old workers close their idle
keep-alive client connections at once; a request arriving on one of them at that moment is
reset. A deploy swap is a route change, so a redeploy under load dropped requests, for every
Space on the proxy. Here nginx is configured once, for every Space there will ever be: one
generic server looks the Space up by host in a ``lua_shared_dict`` and picks the
upstream in ``balancer_by_lua`` (one ``upstream`` with a keepalive pool, essential for
throughput). The sync thread pushes route changes into the dict through a loopback-only
control server; all workers share the dict, so one POST updates them all, and no connection
is ever closed for a route change.

What nginx serves itself, and what it hands to the Python proxy behind it (``@python``), is
exactly what the reload-based plane does: plain requests to public running Spaces, by host
only (path URLs go to the Python proxy, which redirects them to the Space's host: Space code
never runs on the dashboard's origin), never a git request (the shared ``$podium_handover``
map, with podium.gitserver.paths' rule in it). A Space nginx must not serve has no entry in
the dict, so its requests fall through to the Python proxy. Pure: routes in, text out;
podium.proxy.plane.nginx runs it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from podium.proxy.plane.nginxconf import (
    _HANDOVER_MAP,
    _TOKEN,
    _UPSTREAM,
    _VALUE,
    NginxLayout,
    _common,
    _python_location,
    preamble,
)
from podium.routes import Route
from podium.spaces.stage import Sdk

# Written into Lua string literals: anything else could end the literal.
_LITERAL = re.compile(r"^[A-Za-z0-9.:_-]*$")

# Record fields, tab-separated (values are printable ASCII, so never contain a tab):
#   space key, upstream host, port, canonical prefix, flags, then header name/value pairs.
# Flags: "s" strip the canonical prefix by host (Gradio, Streamlit), "b" send the canonical
# prefix as the upstream's base path (Streamlit), "d" forbid embedding.
_LUA = r"""
local M = {}
local shared = ngx.shared.podium
local balancer = require("ngx.balancer")
local find, sub, lower, byte = string.find, string.sub, string.lower, string.byte
local SUFFIX = "%(suffix)s"
local TOKEN = "%(token)s"
local DENY_CSP = "frame-ancestors 'none'"

-- Parsed records per worker, keyed by the raw value: a route change stores a new value, so
-- a stale parse is never used, and the table is dropped when it grows (values replaced).
local cache, cached = {}, 0

local function parse(raw)
    local fields, start = {}, 1
    while true do
        local tab = find(raw, "\t", start, true)
        if not tab then fields[#fields + 1] = sub(raw, start) break end
        fields[#fields + 1] = sub(raw, start, tab - 1)
        start = tab + 1
    end
    local flags = fields[5]
    local rec = {
        key = fields[1], host = fields[2], port = tonumber(fields[3]),
        canonical = fields[4], strip = find(flags, "s", 1, true) ~= nil,
        base = find(flags, "b", 1, true) and fields[4] or "",
        deny = find(flags, "d", 1, true) ~= nil,
    }
    if #fields > 5 then
        local headers = {}
        for i = 6, #fields - 1, 2 do headers[#headers + 1] = {fields[i], fields[i + 1]} end
        rec.headers = headers
    end
    rec.filter = rec.deny or rec.headers ~= nil
    return rec
end

local function lookup(key)
    local raw = shared:get(key)
    if raw == nil then return nil end
    local rec = cache[raw]
    if rec == nil then
        if cached >= 4096 then cache, cached = {}, 0 end
        rec = parse(raw)
        cache[raw] = rec
        cached = cached + 1
    end
    return rec
end

function M.access()
    local var = ngx.var
    local uri = var.request_uri
    local host = var.host
    local rec
    local n = #host - #SUFFIX
    if n > 0 and sub(host, n + 1) == SUFFIX then
        rec = lookup("h:" .. sub(host, 1, n))
    end
    -- By host only: anything else (path URLs too) is the Python proxy's.
    if rec == nil then return ngx.exec("@python") end
    -- The URLs a Gradio/Streamlit app builds carry the canonical prefix; strip it (any
    -- case) as podium.proxy.routing.upstream_path does.
    local target = uri
    if rec.strip then
        local len = #rec.canonical
        if lower(sub(uri, 1, len)) == rec.canonical then
            local after = byte(uri, len + 1)
            if after == nil then target = "/"
            elseif after == 47 then target = sub(uri, len + 1)
            elseif after == 63 then target = "/" .. sub(uri, len + 1) end
        end
    end
    if var.podium_handover == "1" then return ngx.exec("@python") end
    ngx.ctx.podium = rec
    var.podium_space = rec.key
    var.podium_target = rec.base .. target
end

function M.balance()
    local rec = ngx.ctx.podium
    local ok, err = balancer.set_current_peer(rec.host, rec.port)
    if not ok then
        ngx.log(ngx.ERR, "podium: no peer ", rec.host, ":", rec.port, ": ", err)
        return ngx.exit(502)
    end
end

function M.headers()
    local rec = ngx.ctx.podium
    if rec == nil or not rec.filter then return end
    local out = ngx.header
    if rec.headers then
        for _, pair in ipairs(rec.headers) do out[pair[1]] = pair[2] end
    end
    if rec.deny then
        -- As the Python proxy: the app's CSP stays, frame-ancestors 'none' is added.
        out["X-Frame-Options"] = "DENY"
        local csp = out["Content-Security-Policy"]
        if csp == nil then csp = DENY_CSP
        elseif type(csp) == "table" then csp[#csp + 1] = DENY_CSP
        else csp = {csp, DENY_CSP} end
        out["Content-Security-Policy"] = csp
    end
end

-- POST lines "S<TAB>key<TAB>record" (set) and "D<TAB>key" (delete). 200 once every line is
-- in the dict (then every worker routes with it); the sync marks the generation applied
-- only after that.
function M.update()
    if ngx.req.get_method() ~= "POST" then return ngx.exit(405) end
    if ngx.var.http_x_podium_token ~= TOKEN then return ngx.exit(403) end
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if body == nil then
        local path = ngx.req.get_body_file()
        if path ~= nil then
            local file = assert(io.open(path, "rb"))
            body = file:read("*a")
            file:close()
        end
    end
    local count = 0
    for line in string.gmatch(body or "", "[^\n]+") do
        local op = sub(line, 1, 1)
        local tab = find(line, "\t", 3, true)
        if op == "S" and tab then
            -- safe_set: never evict another Space's route to make room.
            local ok, err = shared:safe_set(sub(line, 3, tab - 1), sub(line, tab + 1))
            if not ok then
                ngx.status = 507
                ngx.say("podium: shared dict: ", err)
                return ngx.exit(507)
            end
        elseif op == "D" then
            shared:delete(sub(line, 3))
        else
            ngx.status = 400
            ngx.say("podium: bad line ", count + 1)
            return ngx.exit(400)
        end
        count = count + 1
    end
    ngx.say(count)
end

package.loaded.podium_plane = M
"""


@dataclass(frozen=True, kw_only=True)
class LuaLayout(NginxLayout):
    control_port: int  # loopback: route updates from the sync thread
    token: str  # the sync thread's X-Podium-Token (hex)
    modules: Path  # where ndk_http_module.so and ngx_http_lua_module.so are
    dict_mb: int = 32  # ~200 bytes a Space (by host): >100k Spaces


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
    """Whether nginx serves this route's plain requests itself."""
    if not route.serving or route.private or _peer(route) is None:
        return False
    # Printable ASCII: a tab or newline would break the record, CR/LF the response.
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


def render(layout: LuaLayout, *, domain: str, scheme: str) -> str:
    run = layout.run_dir
    lua = _LUA % {"suffix": _literal("." + domain.lower().rstrip(".")),
                  "token": _literal(layout.token)}
    modules = "".join(f"load_module {layout.modules / name};\n" for name in MODULES)
    return f"""# Written by podium.proxy.plane.nginx (nginx-lua): routes live in shared memory.
{modules}{preamble(run, layout.workers, layout.shutdown_timeout)}
    log_format podium_activity $podium_space;
    lua_shared_dict podium {layout.dict_mb}m;
    init_by_lua_block {{{lua}}}
{_HANDOVER_MAP}
    upstream podium_python {{ server 127.0.0.1:{layout.python_port}; keepalive 64; }}
    upstream podium_spaces {{
        server 0.0.0.1;  # never used: balancer_by_lua picks the Space's peer
        balancer_by_lua_block {{ require("podium_plane").balance() }}
        # After the balancer (it wraps the balancer's peer selection): idle connections
        # per worker, over every Space, matched by peer address.
        keepalive 256;
    }}

    server {{
        listen {layout.listen} default_server;
        server_name _;
        error_page 418 502 = @python;
        location / {{
            set $podium_space "";
            set $podium_target "";
            access_by_lua_block {{ require("podium_plane").access() }}
            header_filter_by_lua_block {{ require("podium_plane").headers() }}
            access_log {layout.activity_log} podium_activity buffer=32k flush=1s
                if=$podium_space;{_common(scheme)}
            proxy_set_header Connection "";
            # Served by host only: no prefix, and a client's claim of one is dropped.
            proxy_set_header X-Forwarded-Prefix "";
            proxy_next_upstream off;
            proxy_hide_header X-Frame-Options;
            proxy_pass http://podium_spaces$podium_target;
        }}{_python_location(scheme)}
    }}

    # Route updates from the sync thread (loopback only, and a token).
    server {{
        listen 127.0.0.1:{layout.control_port};
        client_max_body_size 64m;
        client_body_buffer_size 64m;
        location = /routes {{ content_by_lua_block {{ require("podium_plane").update() }} }}
        location / {{ return 404; }}
    }}
}}
"""
