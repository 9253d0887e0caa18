--- W2b for tide: ping-pong. Two tasks hand a fresh promise back and forth
--- N times in all, and every await really suspends. On its turn a side
--- creates `tide.deferred()`, publishes the resolver in its slot, resolves
--- the one the other side published (waking it) and awaits its own promise,
--- which only the other side can resolve. A hop is one such handover;
--- ns per hop is reported.
---   lua5.4 bench/tide/w2b_pingpong.lua N
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1, 1000000)
local deferred, spawn, now = tide.deferred, tide.spawn, tide.now
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
    p:await()
    hops = hops + 1
  end
  wake(other) -- the other side's last await ends here
end

-- Plays `count` hops (each side takes half) and returns the seconds taken.
local function game(count)
  local t0 = now()
  local a = spawn(player, "a", "b", count // 2)
  local b = spawn(player, "b", "a", count // 2)
  a:await()
  b:await()
  return now() - t0
end

assert(n % 2 == 0, "N must be even: each side takes half the hops")
local ns
tide.run(function()
  game(n // 10 + 2) -- warm-up, as every W2b program does
  hops = 0
  ns = game(n) * 1e9 / n
end)

bench.result("W2b", "tide", { n = n, count = hops, ns = ns })
