--- W1 for tide: `tide.sleep(0)` awaited N times in one task. A zero sleep
--- is one real loop turn (tide runs it from a check handle), so this is the
--- cost of a loop turn as a task sees it; the C floor is bench/c/w1_idle.c.
---   lua5.4 bench/tide/w1_sleep0.lua N
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1, 200000)
local sleep, now = tide.sleep, tide.now

local function turns(count)
  for _ = 1, count do sleep(0):await() end
  return count
end

local ns, count
tide.run(function()
  turns(n // 10 + 1) -- warm-up, as every W1 program does
  local t0 = now()
  count = turns(n)
  ns = (now() - t0) * 1e9 / n
end)

bench.result("W1", "tide", { n = n, count = count, ns = ns })
