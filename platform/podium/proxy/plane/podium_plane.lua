-- The nginx-lua data plane's request handling (loaded by nginx.conf.j2 with
-- lua_package_path; podium.proxy.plane.nginx runs it). Routes live in the shared dict
-- ``podium``, pushed by the sync thread through M.update; records are
-- podium.proxy.plane.nginxlua.record's, tab-separated:
--   space key, upstream host, port, canonical prefix, flags, then header name/value pairs.
-- Flags: "s" strip the canonical prefix by host (Gradio, Streamlit), "b" send the canonical
-- prefix as the upstream's base path (Streamlit), "d" forbid embedding.
local M = {}
local shared = ngx.shared.podium
local balancer = require("ngx.balancer")
local find, sub, lower, byte = string.find, string.sub, string.lower, string.byte
-- Set once by M.init (init_by_lua, in the master, before the workers fork).
local SUFFIX, TOKEN
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

-- conf.suffix: ".{domain}" lower-cased; conf.token: the sync thread's X-Podium-Token.
function M.init(conf)
    SUFFIX, TOKEN = conf.suffix, conf.token
end

-- Routes nginx serves itself. Which Spaces those are is decided in Python, once
-- (podium.routes.Route.served_plainly, via podium.proxy.plane.nginxlua.entries): a Space
-- nginx must not serve has no record, and this only looks the record up. What a *request*
-- must not be served here (git, websockets, event streams, Podium's cookies) is the
-- config's $podium_handover map.
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

return M
