-- tide.all with table.unpack: start several calls at once and destructure
-- the results (an array in input order, with .n) into locals, like
-- `const [user, orders, prefs] = await Promise.all([...])` in JavaScript.
-- Values that are not promises pass through, and .n keeps a trailing nil.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/all_unpack.lua
-- or, after `luarocks make`: lua5.4 examples/all_unpack.lua
local tide = require "tide"

local get_user = tide.async(function(id)
  tide.sleep(0.05):await()
  return { id = id, name = "Ada" }
end)

local get_orders = tide.async(function(user_id)
  tide.sleep(0.08):await()
  return { { id = 1, user = user_id, total = 30 }, { id = 2, user = user_id, total = 12 } }
end)

local get_prefs = tide.async(function()
  tide.sleep(0.03):await()
  return nil -- this user has no preferences
end)

tide.run(function()
  local t0 = tide.now()
  local results = tide.all { get_user(7), get_orders(7), get_prefs(7), "cached" }:await()
  local user, orders, prefs, extra = table.unpack(results, 1, results.n)

  print(("results.n = %d, all done in %.0f ms (the slowest call)"):format(results.n, (tide.now() - t0) * 1000))
  print("user:   " .. user.name .. " (id " .. user.id .. ")")
  local total = 0
  for _, o in ipairs(orders) do total = total + o.total end
  print(("orders: %d, total %d"):format(#orders, total))
  print("prefs:  " .. tostring(prefs))
  print("extra:  " .. extra)
end)
