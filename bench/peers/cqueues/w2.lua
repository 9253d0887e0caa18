--- W2 for cqueues.promise (shipped with lua-cqueues): promise.new(),
--- p:set(true, i), p:get(); N times in one coroutine of a controller.
---   lua5.4 bench/peers/cqueues/w2.lua N
local cqueues = require "cqueues"
local promise = require "cqueues.promise"
local bench = require "bench"

local n = bench.arg_int(1, 1000000)
local new, now = promise.new, cqueues.monotime

local function loop(count)
  local sum = 0
  for i = 1, count do
    local p = new()
    p:set(true, i)
    sum = sum + p:get()
  end
  return sum
end

local ns, sum
local cq = cqueues.new()
cq:wrap(function()
  loop(n // 10 + 1) -- warm-up, as every W2 program does
  local t0 = now()
  sum = loop(n)
  ns = (now() - t0) * 1e9 / n
end)
assert(cq:loop())

bench.result("W2", "cqueues-promise", { n = n, count = sum == n * (n + 1) // 2 and n or -1, ns = ns })
