--- W2 for the pure-Lua promise (bench/peers/lua/promise.lua): create a
--- promise, resolve it, await it in a task; N times.
---   lua5.4 bench/peers/lua/promise_w2.lua N
local bench = require "bench"
local P = require "promise"

local n = bench.arg_int(1, 1000000)
local now = bench.clock()
local resolve, await = P.resolve, P.await

local function loop(count)
  local sum = 0
  for i = 1, count do sum = sum + await(resolve(i)) end
  return sum
end

local ns, sum
P.run(function()
  loop(n // 10 + 1) -- warm-up, as every W2 program does
  local t0 = now()
  sum = loop(n)
  ns = (now() - t0) * 1e9 / n
end)

bench.result("W2", "lua-promise", { n = n, count = sum == n * (n + 1) // 2 and n or -1, ns = ns })
