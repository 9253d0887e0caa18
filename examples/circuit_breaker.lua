-- Circuit breaker: after 3 failures in a row the breaker opens and calls
-- fail fast with an `open_circuit` error, without touching the struggling
-- service. After the cooldown (0.2 s) the next call is a trial (half open)
-- while other calls still fail fast; the trial succeeds, so the breaker
-- closes again.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/circuit_breaker.lua
-- or, after `luarocks make`: lua5.4 examples/circuit_breaker.lua
local tide = require "tide"

local healthy = false
local hits = 0 -- calls that reached the service
local function service()
  hits = hits + 1
  tide.sleep(0.03):await()
  if not healthy then error("502 Bad Gateway", 0) end
  return "200 OK"
end

local breaker = tide.breaker { threshold = 3, cooldown = 0.2 }

local function report(name, promise)
  local t0 = tide.now()
  local ok, res = tide.pawait(promise)
  local what = ok and res or tide.is_error(res, "open_circuit") and "fail fast (open_circuit)" or res
  print(("%-8s %-26s %3.0f ms  state=%s"):format(name, what, (tide.now() - t0) * 1000, breaker.state))
  return res
end

tide.run(function()
  for n = 1, 5 do -- 3 real failures open the circuit, then 2 fast failures
    local res = report("call " .. n, breaker:call(service))
    if n == 4 then print("         " .. tostring(res)) end
  end
  print(("the service was hit %d times for 5 calls"):format(hits))

  healthy = true
  print("... the service recovers; waiting out the cooldown ...")
  tide.sleep(0.2):await()
  local trial = breaker:call(service) -- goes through: the half-open trial
  print("call 6   started as the trial; state=" .. breaker.state)
  report("call 7", breaker:call(service)) -- fails fast while the trial runs
  report("call 6", trial)                 -- the trial succeeds: closed again
  report("call 8", breaker:call(service))
end)
