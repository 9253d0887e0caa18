-- A timeout that really cancels the work: tide.timeout(s, fn) runs fn as a
-- child task; when the time is up the child sees a `cancelled` error at the
-- await it is blocked in, so its pcall and `<close>` cleanup run and its
-- pending sleep (its I/O) stops; then the promise rejects with a `timeout`
-- error. The abandoned 1 s sleep does not keep the script alive.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/timeout_cancels_work.lua
-- or, after `luarocks make`: lua5.4 examples/timeout_cancels_work.lua
local tide = require "tide"

local t0 = tide.now()
local function log(fmt, ...) print(("[%4.0f ms] " .. fmt):format((tide.now() - t0) * 1000, ...)) end

local function slow_report(seconds)
  local _ <close> = setmetatable({}, { __close = function() log("work: cleanup ran") end })
  log("work: started, needs %g s", seconds)
  local ok, err = pcall(function() return tide.sleep(seconds):await() end)
  if not ok then
    log("work: my await raised a %s error, cause: %s", err.kind, tostring(err.cause))
    error(err, 0) -- let the cancellation go on
  end
  log("work: finished")
  return "report"
end

tide.run(function()
  local res = tide.timeout(0.5, function() return slow_report(0.05) end):await()
  log("in time: %s", res)

  t0 = tide.now()
  local ok, err = tide.pawait(tide.timeout(0.1, function() return slow_report(1) end))
  log("too slow: ok=%s, %s (is timeout: %s)", ok, tostring(err), tide.is_error(err, "timeout"))
end)
log("script done, nothing left running")
