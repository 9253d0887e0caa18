--- W2 reference point: a bare Lua coroutine switch. One resume and one
--- yield of a plain coroutine, passing a value in and back, N times: the
--- least a coroutine-based await can cost in Lua 5.4, with no promise at all.
---   lua5.4 bench/peers/lua/coroutine_w2.lua N
local bench = require "bench"

local n = bench.arg_int(1, 1000000)
local now = bench.clock()
local resume, yield = coroutine.resume, coroutine.yield

-- Echoes back every value it is resumed with.
local echo = coroutine.create(function(v)
  while true do v = yield(v) end
end)

local function loop(count)
  local sum = 0
  for i = 1, count do
    local _, v = resume(echo, i)
    sum = sum + v
  end
  return sum
end

loop(n // 10 + 1) -- warm-up, as every W2 program does
local t0 = now()
local sum = loop(n)
local ns = (now() - t0) * 1e9 / n

bench.result("W2", "lua-coroutine", { n = n, count = sum == n * (n + 1) // 2 and n or -1, ns = ns })
