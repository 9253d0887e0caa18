-- Typed errors: tide raises tide.error tables with a `kind`, tested with
-- tide.is_error(err, kind); errors raised by your own code pass through
-- untouched (the same string, the same table). Wrapping an error as the
-- `cause` of a new one builds a chain that tostring prints in full.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/error_kinds.lua
-- or, after `luarocks make`: lua5.4 examples/error_kinds.lua
local tide = require "tide"

local function classify(err)
  if tide.is_error(err, "timeout") then return "timeout (retry later?)"
  elseif tide.is_error(err, "cancelled") then return "cancelled (someone stopped it)"
  elseif tide.is_error(err, "aggregate") then return "aggregate of: " .. table.concat(err.errors, ", ")
  elseif tide.is_error(err) then return "other tide error: " .. err.kind
  elseif type(err) == "table" then return "user error table, code " .. err.code
  else return "user error: " .. tostring(err) end
end

local function slow() tide.sleep(1):await() end
local my_error = { code = 404 }

tide.run(function()
  -- Each entry makes a promise that fails; it is awaited at once (a
  -- rejection left without a handler would be reported as unhandled).
  local failures = {
    { "timeout",      function() return tide.timeout(0.05, slow) end },
    { "task:cancel",  function()
                        local task = tide.spawn(slow)
                        task:cancel("user pressed stop")
                        return task
                      end },
    { "string error", function() return tide.spawn(function() error("disk full", 0) end) end },
    { "table error",  function() return tide.spawn(function() error(my_error) end) end },
    { "tide.any",     function() return tide.any { tide.reject("a"), tide.reject("b") } end },
  }
  for _, f in ipairs(failures) do
    local ok, err = tide.pawait(f[2]())
    assert(not ok)
    print(("%-13s -> %s"):format(f[1], classify(err)))
    if err == my_error then print("                 (the very table that was raised)") end
  end

  -- A cause chain: a timeout wrapped in an application-level error.
  local ok, err = tide.pawait(tide.timeout(0.02, slow))
  assert(not ok)
  local wrapped = tide.error("profile", "could not load the profile page", { cause = err })
  print("chain:\n" .. tostring(wrapped))
  print("is_error(wrapped, 'timeout') = " .. tostring(tide.is_error(wrapped, "timeout"))
        .. ", is_error(wrapped.cause, 'timeout') = " .. tostring(tide.is_error(wrapped.cause, "timeout")))
end)
