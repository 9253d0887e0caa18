-- try / catch / finally: pcall around awaits is the try/catch, a `<close>`
-- variable is the finally. The cleanup runs however the block is left:
-- normally, when an await raises (a failed call), or when the task is
-- cancelled while it waits.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/try_catch_finally.lua
-- or, after `luarocks make`: lua5.4 examples/try_catch_finally.lua
local tide = require "tide"

-- A fake connection; closing it is the cleanup.
local function connect(name)
  print("  open  " .. name)
  return setmetatable({ name = name }, { __close = function(c) print("  close " .. c.name) end })
end

local query = tide.async(function(sql)
  tide.sleep(0.02):await()
  if sql:find("DROP") then error({ code = 42, message = "permission denied" }) end
  return "3 rows"
end)

local function transaction(sql) -- the "async function" with try/finally
  local _ <close> = connect("db") -- closed however the function is left
  return query(sql):await() -- raises the error the query failed with
end

tide.run(function()
  print("success:")
  local ok, res = pcall(transaction, "SELECT *")
  print("  result: " .. tostring(ok) .. ", " .. res)

  print("an await raises:")
  ok, res = pcall(transaction, "DROP TABLE users")
  print(("  caught: %s, error %d, %s (the table the query raised)"):format(tostring(ok), res.code, res.message))

  print("cancelled while waiting:")
  local task = tide.spawn(function()
    local _ <close> = connect("slow")
    tide.sleep(10):await()
  end)
  tide.sleep(0.02):await()
  task:cancel("shutting down")
  ok, res = tide.pawait(task)
  print("  task: " .. tostring(ok) .. ", " .. tostring(res))
end)
