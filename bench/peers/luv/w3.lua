--- W3 for luv: N coroutines each sleep 100 ms on a libuv timer of its own
--- (the glue a luv user writes: start a timer whose callback closes it and
--- resumes the coroutine, then yield), then uv.run() until all are done.
--- Two passes, as in bench/tide/w3_timers.lua: wall time and resident
--- memory first, then the Lua heap with every task pending.
---   lua5.4 bench/peers/luv/w3.lua N [seconds]
local uv = require "luv"
local bench = require "bench"

local n = bench.arg_int(1, 100000)
local ms = math.floor(tonumber(bench.arg_str(2, "0.1")) * 1000 + 0.5)
local done = 0

local function sleep(milliseconds)
  local co = coroutine.running()
  local t = uv.new_timer()
  t:start(milliseconds, 0, function()
    t:close()
    local ok, err = coroutine.resume(co)
    if not ok then error(err, 0) end
  end)
  coroutine.yield()
end

local function worker()
  sleep(ms)
  done = done + 1
end

-- Starts N tasks; each runs up to its first yield, like an async function.
local function spawn_all()
  uv.update_time() -- sleeps start now, not at the loop's last tick
  for _ = 1, n do coroutine.wrap(worker)() end
end

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

full_gc()
bench.reset_peak()
local rss0 = bench.proc_status("VmRSS")
local t0 = uv.hrtime()
spawn_all()
uv.run()
local wall = (uv.hrtime() - t0) * 1e-9
local rss_peak = bench.proc_status("VmHWM")
local count = done

done = 0
full_gc()
local kb0 = collectgarbage("count")
spawn_all()
full_gc()
local kb1 = collectgarbage("count")
uv.run()
if done ~= n then count = -done end

bench.result("W3", "luv", {
  n = n,
  count = count,
  wall_s = wall,
  rss_B = (rss_peak - rss0) / n,
  heap_B = (kb1 - kb0) * 1024 / n,
})
