-- tide.all_settled with partial failures: unlike tide.all, which rejects at
-- the first failure, all_settled waits for every call and reports each
-- outcome as {status="fulfilled", value=v} or {status="rejected", reason=e}.
-- Here two of five "health checks" fail; the report lists both kinds.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/all_settled.lua
-- or, after `luarocks make`: lua5.4 examples/all_settled.lua
local tide = require "tide"

local services = {
  { name = "auth", latency = 0.03 },
  { name = "billing", latency = 0.05, fails = "connection refused" },
  { name = "search", latency = 0.02 },
  { name = "mail", latency = 0.20, timeout = 0.1 }, -- too slow: times out
  { name = "storage", latency = 0.04 },
}

-- tide.timeout(s, fn) runs fn as a task and returns a promise of its result.
local function check(s)
  return tide.timeout(s.timeout or 1, function()
    tide.sleep(s.latency):await()
    if s.fails then error(s.name .. ": " .. s.fails, 0) end
    return ("%s up (%.0f ms)"):format(s.name, s.latency * 1000)
  end)
end

tide.run(function()
  local checks = {}
  for i, s in ipairs(services) do checks[i] = check(s) end
  local t0 = tide.now()
  local outcomes = tide.all_settled(checks):await()

  local up, down = 0, 0
  for i, o in ipairs(outcomes) do
    if o.status == "fulfilled" then
      up = up + 1
      print(("ok     %-8s %s"):format(services[i].name, o.value))
    else
      down = down + 1
      print(("FAILED %-8s %s"):format(services[i].name, tostring(o.reason)))
    end
  end
  print(("%d succeeded, %d failed; all settled in %.0f ms"):format(up, down, (tide.now() - t0) * 1000))
end)
