--- tide.timeout: give work a deadline.
-- @module tide.timeout
local core = require "tide.core"
local signal = require "tide.signal"
local check = require "tide.check"

local is_callable = check.is_callable

local function timeout_error(s)
  return core.error("timeout", ("timed out after %g s"):format(s), { seconds = s })
end

--- Runs `work` with a deadline of `s` seconds.
---
--- With a function, `work` runs as a child task; when time runs out it sees
--- a `cancelled` error at its await (so its cleanup runs and its I/O stops),
--- and once it has finished the returned promise rejects with a `timeout`
--- error. With a promise, the deadline races it: at expiry the result
--- rejects at once, and the promise is cancelled if it is a task or a tide
--- operation (a sleep, a request, ...).
--- @param s number seconds
--- @param work function|tide.promise
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
local function timeout(s, work, opts)
  check.seconds(s, 1, "timeout")
  local sig, rejected = signal.options(opts, "tide.timeout", 3)
  if rejected then return rejected end
  local target, timer
  -- Cancelling the result (result:cancel()) stops the clock and the work.
  local result, resolve, reject = core.operation(function(err)
    if timer then timer:cancel() end
    if target then core.cancel(target, err) end
  end)
  if is_callable(work) then
    local child = core.spawn(work)
    local expired
    timer = core.set_timeout(function()
      expired = timeout_error(s)
      core.cancel(child, core.cancelled_error(expired))
    end, s)
    child:next(function(v)
      timer:cancel()
      if expired then reject(expired) else resolve(v) end
    end, function(e)
      timer:cancel()
      if expired then
        -- The child's own failure while stopping is worth keeping.
        if not core.is_error(e, "cancelled") then expired.cause = e end
        reject(expired)
      else
        reject(e)
      end
    end)
    target = child
  else
    local p = core.resolve(work)
    timer = core.set_timeout(function()
      local err = timeout_error(s)
      reject(err)
      core.cancel(p, core.cancelled_error(err))
    end, s)
    p:next(function(v) timer:cancel(); resolve(v) end, function(e) timer:cancel(); reject(e) end)
    target = p
  end
  return signal.follow(result, sig, target)
end

return { timeout = timeout }
