-- Sequential vs parallel: three "service calls" of about 100 ms each,
-- awaited one after the other (about 300 ms) and then started together and
-- awaited with tide.all (about 100 ms: the latencies overlap).
-- tide.sleep stands in for the network latency.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/sequential_vs_parallel.lua
-- or, after `luarocks make`: lua5.4 examples/sequential_vs_parallel.lua
local tide = require "tide"

-- An "async function": each call starts a task and returns it (a promise).
local call_service = tide.async(function(name)
  tide.sleep(0.1):await()
  return name .. " ok"
end)

local function ms(t0) return (tide.now() - t0) * 1000 end

tide.run(function()
  -- One by one: each await waits for its call before the next one starts.
  local t0 = tide.now()
  local user = call_service("user"):await()
  local orders = call_service("orders"):await()
  local profile = call_service("profile"):await()
  print(("sequential: %s, %s, %s in %.0f ms"):format(user, orders, profile, ms(t0)))

  -- In parallel: start all three, then wait for them together.
  t0 = tide.now()
  local results = tide.all {
    call_service("user"), call_service("orders"), call_service("profile"),
  }:await()
  print(("parallel:   %s, %s, %s in %.0f ms"):format(results[1], results[2], results[3], ms(t0)))
end)
