-- Retry with exponential backoff: a flaky call fails twice and succeeds on
-- the 3rd attempt. tide.retry waits base * factor^(k-1) seconds after
-- failed attempt k (plus up to `jitter` of that at random; the generator is
-- seeded so the output is the same every run); on_retry reports each delay.
-- should_retry can refuse to retry errors that will not go away.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/retry_backoff.lua
-- or, after `luarocks make`: lua5.4 examples/retry_backoff.lua
local tide = require "tide"
math.randomseed(42)

local calls = 0
local function flaky_call(attempt) -- tide.retry passes the attempt number
  calls = calls + 1
  tide.sleep(0.01):await()
  if attempt < 3 then error(("503 Service Unavailable (attempt %d)"):format(attempt), 0) end
  return "200 OK"
end

local function on_retry(err, attempt, delay)
  print(("  attempt %d failed: %s; retrying in %.0f ms"):format(attempt, err, delay * 1000))
end

tide.run(function()
  local t0 = tide.now()
  local res = tide.retry(flaky_call, {
    attempts = 5, base = 0.05, factor = 2, jitter = 0.2, on_retry = on_retry,
  }):await()
  print(("result: %s after %d calls, %.0f ms"):format(res, calls, (tide.now() - t0) * 1000))

  -- A 404 will not fix itself: should_retry stops at once, the error passes
  -- through unchanged.
  calls = 0
  local ok, err = tide.pawait(tide.retry(function() calls = calls + 1; error("404 Not Found", 0) end, {
    attempts = 5, base = 0.05, on_retry = on_retry,
    should_retry = function(e) return not tostring(e):find("^4") end,
  }))
  print(("result: %s, %s after %d call"):format(tostring(ok), err, calls))
end)
