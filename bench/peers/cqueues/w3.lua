--- W3 for cqueues: N coroutines (cq:wrap) each `cqueues.sleep(0.1)`, then
--- cq:loop() until all are done. Two passes, as in bench/tide/w3_timers.lua:
--- wall time and resident memory first, then the Lua heap with every task
--- pending (cq:wrap only queues a coroutine; stepping the controller until
--- all have started puts every one in its sleep).
---   lua5.4 bench/peers/cqueues/w3.lua N [seconds]
local cqueues = require "cqueues"
local bench = require "bench"

local n = bench.arg_int(1, 100000)
local seconds = tonumber(bench.arg_str(2, "0.1"))
local sleep, now = cqueues.sleep, cqueues.monotime
local started, done = 0, 0

local function worker()
  started = started + 1
  sleep(seconds)
  done = done + 1
end

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

full_gc()
bench.reset_peak()
local rss0 = bench.proc_status("VmRSS")
local t0 = now()
local cq = cqueues.new()
for _ = 1, n do cq:wrap(worker) end
assert(cq:loop())
local wall = now() - t0
local rss_peak = bench.proc_status("VmHWM")
local count = done

started, done = 0, 0
full_gc()
local kb0 = collectgarbage("count")
cq = cqueues.new()
for _ = 1, n do cq:wrap(worker) end
while started < n do assert(cq:step(0)) end
full_gc()
local kb1 = collectgarbage("count")
assert(cq:loop())
if done ~= n then count = -done end

bench.result("W3", "cqueues", {
  n = n,
  count = count,
  wall_s = wall,
  rss_B = (rss_peak - rss0) / n,
  heap_B = (kb1 - kb0) * 1024 / n,
})
