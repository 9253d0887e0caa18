--- W4 and W5 for lua-http (Debian's lua-http 0.4, on cqueues): N GETs of
--- URL, INFLIGHT at a time; every response must be a 200 with SIZE bytes.
--- lua-http's http.request opens a new connection for every request (it
--- has no pool), so, to reuse connections as every other implementation
--- does, each of INFLIGHT coroutines opens one HTTP/1.1 connection
--- (http.client.connect) and sends its requests on it one after another
--- (conn:new_stream()). W4 reads each body whole
--- (stream:get_body_as_string()); W5 reads it chunk by chunk
--- (stream:each_chunk()) and drops the chunks. Wall and CPU time (os.clock:
--- user + system of the process) run from the first request to the last
--- completion; peak RSS is VmHWM over that stretch (reset just before).
---   lua5.4 bench/peers/luahttp/http_get.lua N WORKLOAD URL SIZE INFLIGHT
--- Debian installs lua-http for Lua 5.1 only (/usr/share/lua/5.1), but its
--- code runs on 5.4 with the 5.4 builds of cqueues, luaossl and lpeg: the
--- 5.1 directory goes on the path after the 5.4 ones.
package.path = package.path .. ";/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua"
local cqueues = require "cqueues"
local client = require "http.client"
local new_headers = require("http.headers").new
local bench = require "bench"

local n = bench.arg_int(1)
local workload = bench.arg_str(2)
local url = bench.arg_str(3)
local size = bench.arg_int(4)
local inflight = math.min(bench.arg_int(5), n)
local chunked = workload == "W5"
local host, port, path = url:match("^http://([^:/]+):(%d+)(/.*)$")
assert(host, "URL: http://HOST:PORT/PATH expected")

local ok, bytes, started = 0, 0, 0
local timeout = 60 -- seconds for any one step: a hang is a failure

local function worker()
  local conn = assert(client.connect { host = host, port = tonumber(port), tls = false, version = 1.1 })
  while started < n do
    started = started + 1
    local req = new_headers()
    req:append(":method", "GET")
    req:append(":scheme", "http")
    req:append(":authority", host .. ":" .. port)
    req:append(":path", path)
    local stream = assert(conn:new_stream())
    assert(stream:write_headers(req, true, timeout))
    local res = assert(stream:get_headers(timeout))
    local len = 0
    if chunked then
      for chunk in stream:each_chunk() do len = len + #chunk end
    else
      len = #assert(stream:get_body_as_string(timeout))
    end
    if res:get(":status") == "200" and len == size then ok = ok + 1 end
    bytes = bytes + len
  end
  conn:close()
end

local cq = cqueues.new()
collectgarbage("collect")
bench.reset_peak()
local rss0 = bench.proc_status("VmRSS")
local t0, cpu0 = cqueues.monotime(), os.clock()
for _ = 1, inflight do cq:wrap(worker) end
assert(cq:loop())
local wall, cpu = cqueues.monotime() - t0, os.clock() - cpu0
local peak = bench.proc_status("VmHWM")

bench.result(workload, "lua-http", {
  n = n,
  count = ok,
  bytes = bytes,
  wall_s = wall,
  rps = ok / wall,
  cpu_us = cpu * 1e6 / n,
  mibps = bytes / 1048576 / wall,
  rss_mib = peak / 1048576,
  rss0_mib = rss0 / 1048576,
})
