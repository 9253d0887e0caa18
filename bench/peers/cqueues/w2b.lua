--- W2b for cqueues: the ping-pong of bench/tide/w2b_pingpong.lua with
--- cqueues.promise: on its turn a side creates a promise, publishes it, sets
--- the one the other side published and waits in p:get() (a condition
--- variable wait, so a real suspension of the coroutine).
---   lua5.4 bench/peers/cqueues/w2b.lua N
local cqueues = require "cqueues"
local promise = require "cqueues.promise"
local bench = require "bench"

local n = bench.arg_int(1, 1000000)
assert(n % 2 == 0, "N must be even: each side takes half the hops")
local new, now = promise.new, cqueues.monotime
local slot = {} -- slot[side] = the promise that side is waiting on
local hops = 0

local function wake(side)
  local p = slot[side]
  if p then
    slot[side] = nil
    p:set(true, hops)
  end
end

local function player(me, other, turns)
  for _ = 1, turns do
    local p = new()
    slot[me] = p
    wake(other)
    p:get()
    hops = hops + 1
  end
  wake(other)
end

-- Plays `count` hops (each side takes half) and returns the seconds taken.
local function game(count)
  local cq = cqueues.new()
  local t0 = now()
  cq:wrap(player, "a", "b", count // 2)
  cq:wrap(player, "b", "a", count // 2)
  assert(cq:loop())
  return now() - t0
end

game(n // 10 + 2) -- warm-up, as every W2b program does
hops = 0
local ns = game(n) * 1e9 / n

bench.result("W2b", "cqueues", { n = n, count = hops, ns = ns })
