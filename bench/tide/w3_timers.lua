--- W3 for tide: N tasks each `tide.sleep(0.1)`, all spawned from the top
--- level, then `tide.run()` until none is left; the count of completions
--- must equal N.
---
--- Two passes in one process:
---  1. wall time (first spawn to the return of tide.run()) and resident
---     memory: VmHWM over the pass minus VmRSS before it, per task;
---  2. the Lua heap per task: collectgarbage("count") after a full collection
---     with every task pending, minus the same before spawning. tide
---     allocates its C structures through Lua's allocator, so this counts
---     them too. The forced full collection would distort the wall time of
---     pass 1, hence its own pass.
---   lua5.4 bench/tide/w3_timers.lua N [seconds]
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1, 100000)
local seconds = tonumber(bench.arg_str(2, "0.1"))
local spawn, sleep, now = tide.spawn, tide.sleep, tide.now
local done = 0

local function worker()
  sleep(seconds):await()
  done = done + 1
end

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- Pass 1: wall time and resident memory.
full_gc()
bench.reset_peak()
local rss0 = bench.proc_status("VmRSS")
local t0 = now()
for _ = 1, n do spawn(worker) end
tide.run()
local wall = now() - t0
local rss_peak = bench.proc_status("VmHWM")
local count = done

-- Pass 2: the Lua heap with every task pending.
done = 0
full_gc()
local kb0 = collectgarbage("count")
for _ = 1, n do spawn(worker) end
full_gc()
local kb1 = collectgarbage("count")
tide.run()
if done ~= n then count = -done end -- pass 2 must complete too

bench.result("W3", "tide", {
  n = n,
  count = count,
  wall_s = wall,
  rss_B = (rss_peak - rss0) / n,
  heap_B = (kb1 - kb0) * 1024 / n,
})
