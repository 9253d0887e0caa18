--- W1 for cqueues: `cqueues.sleep(0)` N times in one coroutine of a
--- controller (cq:wrap), driven by cq:loop().
---   lua5.4 bench/peers/cqueues/w1.lua N
local cqueues = require "cqueues"
local bench = require "bench"

local n = bench.arg_int(1, 200000)
local sleep, now = cqueues.sleep, cqueues.monotime

local function turns(count)
  for _ = 1, count do sleep(0) end
  return count
end

local ns, count
local cq = cqueues.new()
cq:wrap(function()
  turns(n // 10 + 1) -- warm-up, as every W1 program does
  local t0 = now()
  count = turns(n)
  ns = (now() - t0) * 1e9 / n
end)
assert(cq:loop())

bench.result("W1", "cqueues", { n = n, count = count, ns = ns })
