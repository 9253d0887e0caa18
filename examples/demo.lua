-- The demo: the "sequential vs parallel" pattern, with tide.sleep standing in
-- for the latency of three service calls (about 300 ms one by one, about
-- 100 ms with tide.all). Run it with `make demo`.
local tide = require "tide"

local function call_service(name, latency)
  tide.sleep(latency):await()
  return name .. " ok"
end
local fetch = tide.async(call_service)

tide.run(function()
  local t0 = tide.now()
  local a = fetch("users", 0.1):await()
  local b = fetch("orders", 0.1):await()
  local c = fetch("profile", 0.1):await()
  print(("sequential: %-30s %4.0f ms"):format(table.concat({ a, b, c }, ", "), (tide.now() - t0) * 1000))

  t0 = tide.now()
  local results = tide.all { fetch("users", 0.1), fetch("orders", 0.1), fetch("profile", 0.1) }:await()
  print(("parallel:   %-30s %4.0f ms"):format(table.concat(results, ", ", 1, results.n), (tide.now() - t0) * 1000))
end)
