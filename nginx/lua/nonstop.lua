-- nonstop.lua: the Lua side of Nonstop's reload-free membership backend
-- (nginx block mode = "dynamic"; docs/dynamic.md).
--
-- Nonstop writes DIR/UPSTREAM.state (temp file + rename where it can;
-- through a Docker engine without a shell in the image, the engine's
-- archive API replaces the file, and a read may catch it missing or
-- half written):
--
--   nonstop 1
--   size 96                                    (the file's length in bytes)
--   version 7
--   server app1:3000 172.18.0.5:3000 0 0 0     (name addr down weight backup)
--   end
--
-- Every worker reads it at start (init_worker, so a restarted nginx starts
-- from the last membership written) and every 50 ms after, into the shared
-- dict "nonstop". balance(UPSTREAM) picks a peer from it (weighted round
-- robin, down peers skipped, backups only when no other peer is up) and
-- counts a request in flight on that peer per try; log() counts them out.
-- Worker 0 writes DIR/UPSTREAM.ack with the version every worker now uses
-- and the counts, which Nonstop reads to know a change is live and a
-- drained peer idle. Nothing listens on any port.
--
-- Until the first state file exists, balance() picks nothing and nginx
-- balances over the upstream's own server lines (round robin), as without
-- this module; those requests are counted in flight under "*", since the
-- peer nginx picks is not known here, and a drain waits for them all.

local balancer = require "ngx.balancer"

local _M = { _VERSION = "1" }

local DICT = "nonstop"
-- NGX_BUSY: what nginx's own balancer returns with no live upstream; the
-- request gets 502 (an error status from a balancer would give 500).
local NGX_BUSY = -3
local INTERVAL = 0.05

local dir
local upstreams = {}
local cache = {}    -- per worker: upstream -> { version, list, backups, i }
local written = {}  -- per worker: upstream -> last ack text written
local ticks = 0     -- per worker: timer ticks, to rewrite an unchanged ack now and then

local function shm()
    local d = ngx.shared[DICT]
    if not d then
        error("nonstop: lua_shared_dict " .. DICT .. " is missing (see plan nginx-snippet)")
    end
    return d
end

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local data = f:read("*a")
    f:close()
    return data
end

-- parse returns the version and peers of a state file's text, or nil when
-- the text is not a complete state file: its first and last lines, and its
-- length when it has a size line (files of older versions have none).
local function parse(data)
    if not data or not data:find("^nonstop 1\n") or not data:find("\nend\n$") then
        return nil
    end
    local size = data:match("^nonstop 1\nsize (%d+)\n")
    if size and tonumber(size) ~= #data then
        return nil
    end
    local version
    local peers = {}
    for line in data:gmatch("[^\n]+") do
        local v = line:match("^version (%d+)$")
        if v then
            version = v
        end
        local name, addr, down, weight, backup = line:match("^server (%S+) (%S+) (%d) (%d+) (%d)$")
        if name then
            local host, port = addr:match("^%[?([^%]]+)%]?:(%d+)$")
            peers[#peers + 1] = {
                name = name, host = host, port = tonumber(port),
                down = down == "1", weight = math.max(tonumber(weight), 1), backup = backup == "1",
            }
        end
    end
    if not version then
        return nil
    end
    return version, peers
end

-- load copies the upstream's state file into the shared dict when its
-- version differs from the one there.
local function load(u)
    local data = read_file(dir .. "/" .. u .. ".state")
    local version = parse(data)
    if not version then
        return
    end
    local d = shm()
    if d:get("v:" .. u) ~= version then
        d:set("s:" .. u, data)
        d:set("v:" .. u, version)
    end
end

-- ack writes the version in use and the in-flight counts, when they changed.
local function ack(u)
    local d = shm()
    -- Version 0 before the first state: the ack still proves to the
    -- preflight that this module runs and can write here.
    local version = d:get("v:" .. u) or "0"
    local _, peers = parse(d:get("s:" .. u))
    local out = { "nonstop-ack 1", "module " .. _M._VERSION, "version " .. version }
    for _, p in ipairs(peers or {}) do
        out[#out + 1] = "inflight " .. p.name .. " " .. (d:get("f:" .. u .. "|" .. p.name) or 0)
    end
    -- Requests that nginx's round robin placed before the first state.
    out[#out + 1] = "inflight * " .. (d:get("f:" .. u .. "|*") or 0)
    out[#out + 1] = "end\n"
    local text = table.concat(out, "\n")
    -- Unchanged: written again once a second anyway, in case the file
    -- was removed.
    if written[u] == text and ticks % 20 ~= 0 then
        return
    end
    local path = dir .. "/" .. u .. ".ack"
    local tmp = path .. ".tmp." .. ngx.worker.pid()
    local f, err = io.open(tmp, "wb")
    if not f then
        ngx.log(ngx.ERR, "nonstop: cannot write ", tmp, ": ", err)
        return
    end
    f:write(text)
    f:close()
    local ok, rerr = os.rename(tmp, path)
    if not ok then
        ngx.log(ngx.ERR, "nonstop: cannot rename ", tmp, ": ", rerr)
        os.remove(tmp)
        return
    end
    written[u] = text
end

local function tick(premature)
    if premature then
        return
    end
    ticks = ticks + 1
    for u in pairs(upstreams) do
        local ok, err = pcall(load, u)
        if not ok then
            ngx.log(ngx.ERR, "nonstop: reading the state of ", u, ": ", err)
        end
        if ngx.worker.id() == 0 then
            ok, err = pcall(ack, u)
            if not ok then
                ngx.log(ngx.ERR, "nonstop: writing the ack of ", u, ": ", err)
            end
        end
    end
end

-- init_worker(DIR, {UPSTREAM, ...}) is called from init_worker_by_lua: it
-- loads the last membership written and starts the timer.
function _M.init_worker(state_dir, names)
    dir = state_dir
    for _, u in ipairs(names) do
        upstreams[u] = true
    end
    if ngx.worker.id() == nil then
        return -- not a request worker (cache manager, privileged agent)
    end
    tick(false)
    local ok, err = ngx.timer.every(INTERVAL, tick)
    if not ok then
        ngx.log(ngx.ERR, "nonstop: cannot start the timer: ", err)
    end
end

-- build turns peers into the lists balance() picks from: each up peer
-- weight times, interleaved, primaries and backups apart.
local function build(version, peers)
    local c = { version = version, list = {}, backups = {}, i = 0 }
    local maxw = 0
    for _, p in ipairs(peers) do
        if not p.down and p.host then
            maxw = math.max(maxw, p.weight)
        end
    end
    for round = 1, maxw do
        for _, p in ipairs(peers) do
            if not p.down and p.host and p.weight >= round then
                local l = p.backup and c.backups or c.list
                l[#l + 1] = p
            end
        end
    end
    if #c.list == 0 then
        c.list, c.backups = c.backups, {}
    end
    return c
end

local function pick(c, tried)
    local n = #c.list
    for _ = 1, n do
        c.i = c.i % n + 1
        local p = c.list[c.i]
        if not tried or not tried[p.name] then
            return p
        end
    end
    if n > 0 then
        c.i = c.i % n + 1
        return c.list[c.i]
    end
    return nil
end

-- balance(UPSTREAM) is called from balancer_by_lua_block in the upstream.
function _M.balance(u)
    local d = shm()
    local ctx = ngx.ctx
    for _ = 1, 3 do
        local v = d:get("v:" .. u)
        if not v then
            -- No state yet: nginx's round robin over the server lines picks,
            -- and the request is counted under "*" (peer unknown), which
            -- every drain waits for.
            d:incr("f:" .. u .. "|*", 1, 0)
            if d:get("v:" .. u) == nil then
                local tried = ctx.nonstop_tried or {}
                tried[#tried + 1] = "*"
                ctx.nonstop_tried, ctx.nonstop_upstream = tried, u
                ctx.nonstop_seen = ctx.nonstop_seen or {}
                return
            end
            d:incr("f:" .. u .. "|*", -1, 0)
            v = d:get("v:" .. u)
        end
        local c = cache[u]
        if not c or c.version ~= v then
            local _, peers = parse(d:get("s:" .. u))
            if not peers then
                return
            end
            c = build(v, peers)
            cache[u] = c
        end
        local p = pick(c, ctx.nonstop_seen)
        if not p then
            ngx.log(ngx.ERR, "nonstop: no server of upstream ", u, " is up")
            return ngx.exit(NGX_BUSY)
        end
        local key = "f:" .. u .. "|" .. p.name
        d:incr(key, 1, 0)
        -- Counted first, then the version checked again: a drain that saw
        -- this version acked and the count at 0 can never miss this try.
        if d:get("v:" .. u) == v then
            local tried = ctx.nonstop_tried
            if not tried then
                tried = {}
                ctx.nonstop_tried = tried
                ctx.nonstop_seen = {}
                ctx.nonstop_upstream = u
            end
            tried[#tried + 1] = p.name
            ctx.nonstop_seen[p.name] = true
            local ok, err = balancer.set_current_peer(p.host, p.port)
            if not ok then
                ngx.log(ngx.ERR, "nonstop: setting peer ", p.name, ": ", err)
                return ngx.exit(500)
            end
            return
        end
        d:incr(key, -1, 0)
    end
    ngx.log(ngx.ERR, "nonstop: membership of ", u, " changed three times during one pick")
    return ngx.exit(NGX_BUSY)
end

-- log() is called from log_by_lua_block: the request's tries are no
-- longer in flight.
function _M.log()
    local ctx = ngx.ctx
    local tried = ctx.nonstop_tried
    if not tried then
        return
    end
    ctx.nonstop_tried = nil
    local d = shm()
    local u = ctx.nonstop_upstream
    for _, name in ipairs(tried) do
        d:incr("f:" .. u .. "|" .. name, -1, 0)
    end
end

return _M
