-- The "forEach does not wait" pitfall and its fixes. A loop that spawns a
-- task per item without awaiting it moves on at once: the code after the
-- loop runs before any of the work has finished (like
-- `items.forEach(async x => await save(x))` in JavaScript).
-- Fix 1: collect the tasks and await tide.all (parallel, about 50 ms).
-- Fix 2: await inside the loop (one at a time, about 150 ms).
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/foreach_pitfall.lua
-- or, after `luarocks make`: lua5.4 examples/foreach_pitfall.lua
local tide = require "tide"

local saved = 0
local save = tide.async(function(item)
  tide.sleep(0.05):await()
  saved = saved + 1
  return item
end)

local items = { "a", "b", "c" }
local function ms(t0) return (tide.now() - t0) * 1000 end

tide.run(function()
  -- The pitfall: nothing waits for the tasks the loop starts.
  for _, item in ipairs(items) do save(item) end
  print(("pitfall: after the loop, saved %d of %d"):format(saved, #items))
  tide.sleep(0.1):await()
  print(("pitfall: 100 ms later, saved %d of %d (the work finished after we moved on)"):format(saved, #items))

  -- Fix 1: keep the tasks and wait for all of them.
  saved = 0
  local t0 = tide.now()
  local tasks = {}
  for i, item in ipairs(items) do tasks[i] = save(item) end
  tide.all(tasks):await()
  print(("fix 1 (tide.all):       saved %d of %d in %.0f ms"):format(saved, #items, ms(t0)))

  -- Fix 2: await each one inside the loop.
  saved = 0
  t0 = tide.now()
  for _, item in ipairs(items) do save(item):await() end
  print(("fix 2 (await in loop):  saved %d of %d in %.0f ms"):format(saved, #items, ms(t0)))
end)
