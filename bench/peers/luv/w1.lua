--- W1 for luv (libuv's Lua binding) with the glue a luv user writes for a
--- loop-turn sleep(0): the task is a coroutine that starts an idle handle
--- and yields; the idle callback stops the handle and resumes it.
---   lua5.4 bench/peers/luv/w1.lua N
local uv = require "luv"
local bench = require "bench"

local n = bench.arg_int(1, 200000)
local idle = uv.new_idle()
local task

local function on_idle()
  idle:stop()
  local ok, err = coroutine.resume(task)
  if not ok then error(err, 0) end
end

local function sleep0()
  idle:start(on_idle)
  coroutine.yield()
end

local function turns(count)
  for _ = 1, count do sleep0() end
  return count
end

local ns, count
task = coroutine.create(function()
  turns(n // 10 + 1) -- warm-up, as every W1 program does
  local t0 = uv.hrtime()
  count = turns(n)
  ns = (uv.hrtime() - t0) / n
end)
assert(coroutine.resume(task))
uv.run()

bench.result("W1", "luv", { n = n, count = count, ns = ns })
