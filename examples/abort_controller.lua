-- Cancellation with an abort controller (the web's AbortController): one
-- signal is passed as `signal=` to every sleep of three parallel
-- "downloads"; a "cancel button" (a timer) calls ctl:abort(reason) after
-- 120 ms. Every operation tied to the signal stops at once and rejects
-- with the reason; an on_abort listener is told too. Work started after
-- the abort fails straight away.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/abort_controller.lua
-- or, after `luarocks make`: lua5.4 examples/abort_controller.lua
local tide = require "tide"

local t0 = tide.now()
local function log(fmt, ...) print(("[%4.0f ms] " .. fmt):format((tide.now() - t0) * 1000, ...)) end

local download = tide.async(function(name, chunks, signal)
  for i = 1, chunks do
    tide.sleep(0.05, { signal = signal }):await() -- one chunk
    log("%s: chunk %d/%d", name, i, chunks)
  end
  return name .. " complete"
end)

tide.run(function()
  local ctl = tide.abort_controller()
  ctl.signal:on_abort(function(reason) log("on_abort listener: %s", reason) end)
  tide.set_timeout(function() ctl:abort("user clicked cancel") end, 0.12)

  local outcomes = tide.all_settled {
    download("small.iso", 1, ctl.signal),
    download("big.iso", 10, ctl.signal),
    download("huge.iso", 40, ctl.signal),
  }:await()
  for i, o in ipairs(outcomes) do
    log("download %d: %s", i, o.status == "fulfilled" and o.value or "aborted: " .. o.reason)
  end
  log("signal.aborted = %s, signal.reason = %s", ctl.signal.aborted, ctl.signal.reason)

  local ok, err = tide.pawait(download("late.iso", 1, ctl.signal))
  log("started after the abort: ok=%s, %s", ok, err)
end)
