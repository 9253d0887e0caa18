--- W4 and W5 for tide: N GETs of URL through one `tide.http.client`,
--- INFLIGHT at a time; every response must be a 200 with SIZE bytes.
---   lua5.4 bench/tide/http_get.lua N WORKLOAD URL SIZE INFLIGHT [MODE]
--- MODE:
---   workers  (impl tide)        INFLIGHT tasks, each `client:get(url):await()`
---                               in a loop, reading `res.body` (buffered)
---   map      (impl tide-map)    `tide.map(list, fn, {concurrency = INFLIGHT})`,
---                               fn as above (returns the length, not the body)
---   stream   (impl tide-stream) as workers with `stream = true`, reading
---                               `res:chunks()` and dropping each chunk
--- Wall and CPU time (os.clock: user + system of the process, all threads,
--- the figure getrusage gives) run from the first request to the last
--- completion; peak RSS is VmHWM over that stretch (reset just before).
--- Prints every figure of both workloads; the report picks its own.
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1)
local workload = bench.arg_str(2)
local url = bench.arg_str(3)
local size = bench.arg_int(4)
local inflight = math.min(bench.arg_int(5), n)
local mode = bench.arg_str(6, "workers")
local impl = ({ workers = "tide", map = "tide-map", stream = "tide-stream" })[mode]
  or error("mode: workers, map or stream, got " .. mode)

local client = tide.http.client()
local ok, bytes = 0, 0
local stream_opts = { stream = true }

-- One request: its body's length (the body itself is dropped).
local function get()
  local res
  local len = 0
  if mode == "stream" then
    res = client:get(url, stream_opts):await()
    for chunk in res:chunks() do len = len + #chunk end
  else
    res = client:get(url):await()
    len = #res.body
  end
  if res.status == 200 and len == size then ok = ok + 1 end
  bytes = bytes + len
  return len
end

local list = {}
for i = 1, n do list[i] = i end

local wall, cpu, rss0, peak
tide.run(function()
  collectgarbage("collect")
  bench.reset_peak()
  rss0 = bench.proc_status("VmRSS")
  local t0, cpu0 = tide.now(), os.clock()
  if mode == "map" then
    tide.map(list, get, { concurrency = inflight }):await()
  else
    local started = 0
    local function worker()
      while started < n do
        started = started + 1
        get()
      end
    end
    local tasks = {}
    for k = 1, inflight do tasks[k] = tide.spawn(worker) end
    tide.all(tasks):await()
  end
  wall, cpu = tide.now() - t0, os.clock() - cpu0
  peak = bench.proc_status("VmHWM")
end)
client:close()

bench.result(workload, impl, {
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
