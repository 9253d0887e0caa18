--- W2b for the pure-Lua promise (bench/peers/lua/promise.lua): the same
--- ping-pong as bench/tide/w2b_pingpong.lua, on the microtask queue alone.
---   lua5.4 bench/peers/lua/promise_w2b.lua N
local bench = require "bench"
local P = require "promise"

local n = bench.arg_int(1, 1000000)
assert(n % 2 == 0, "N must be even: each side takes half the hops")
local now = bench.clock()
local deferred, await, spawn = P.deferred, P.await, P.spawn
local slot = {} -- slot[side] = the resolver that side is waiting on
local hops = 0

local function wake(side)
  local resolve = slot[side]
  if resolve then
    slot[side] = nil
    resolve(hops)
  end
end

local function player(me, other, turns)
  for _ = 1, turns do
    local p, resolve = deferred()
    slot[me] = resolve
    wake(other)
    await(p)
    hops = hops + 1
  end
  wake(other)
end

local function game(count)
  local t0 = now()
  local a = spawn(player, "a", "b", count // 2)
  local b = spawn(player, "b", "a", count // 2)
  await(a)
  await(b)
  return now() - t0
end

local ns
P.run(function()
  game(n // 10 + 2) -- warm-up, as every W2b program does
  hops = 0
  ns = game(n) * 1e9 / n
end)

bench.result("W2b", "lua-promise", { n = n, count = hops, ns = ns })
