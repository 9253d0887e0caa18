--- W2 for tide: create a promise, resolve it, await it; N times in one task.
---   lua5.4 bench/tide/w2_resolve.lua N resolve    `tide.resolve(i):await()`
---   lua5.4 bench/tide/w2_resolve.lua N deferred   `p, res = tide.deferred(); res(i); p:await()`
--- The awaited promise is already settled, which tide may return from
--- without suspending; the sum of the awaited values proves every await
--- gave the right value.
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1, 1000000)
local variant = bench.arg_str(2, "resolve")
local resolve, deferred, now = tide.resolve, tide.deferred, tide.now

local loops = {
  resolve = function(count)
    local sum = 0
    for i = 1, count do sum = sum + resolve(i):await() end
    return sum
  end,
  deferred = function(count)
    local sum = 0
    for i = 1, count do
      local p, res = deferred()
      res(i)
      sum = sum + p:await()
    end
    return sum
  end,
}
local loop = assert(loops[variant], "variant: resolve or deferred")

local ns, sum
tide.run(function()
  loop(n // 10 + 1) -- warm-up, as every W2 program does
  local t0 = now()
  sum = loop(n)
  ns = (now() - t0) * 1e9 / n
end)

-- count = how many awaits there were, if the values all came back right.
local count = sum == n * (n + 1) // 2 and n or -1
bench.result("W2", "tide-" .. variant, { n = n, count = count, ns = ns })
