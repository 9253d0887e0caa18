--- tide.retry: run an operation again after failures, with exponential
--- backoff and jitter.
-- @module tide.retry
local core = require "tide.core"
local signal = require "tide.signal"
local check = require "tide.check"

local type, error, pairs, random, min = type, error, pairs, math.random, math.min

local defaults = { attempts = 3, base = 1, max = 30, factor = 2, jitter = 0.2 }
local known = { attempts = true, base = true, max = true, factor = true, jitter = true,
                should_retry = true, on_retry = true, signal = true }

-- The options with their defaults filled in; opts has passed check.options.
local function option_values(opts)
  if opts == nil then return defaults end
  local o = {}
  for k, v in pairs(defaults) do
    local given = opts[k]
    if given ~= nil and (type(given) ~= "number" or given ~= given or given < 0) then
      error(("bad option '%s' to 'retry' (non-negative number expected)"):format(k), 3)
    end
    o[k] = given == nil and v or given
  end
  if math.type(o.attempts) ~= "integer" and o.attempts % 1 ~= 0 or o.attempts < 1 then
    error("bad option 'attempts' to 'retry' (positive integer expected)", 3)
  end
  for _, k in pairs { "should_retry", "on_retry" } do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then
      error(("bad option '%s' to 'retry' (function expected, got %s)"):format(k, type(opts[k])), 3)
    end
    o[k] = opts[k]
  end
  return o
end

--- The delay after failed attempt `k` (1-based):
--- `d = min(max, base * factor^(k-1))` plus `d * jitter * random()`.
local function backoff(o, k)
  local d = min(o.max, o.base * o.factor ^ (k - 1))
  return d + d * o.jitter * random()
end

--- Calls `fn(attempt)` in a task until it succeeds, at most `attempts`
--- times, sleeping with backoff between attempts. `should_retry(err,
--- attempt)` may veto a retry, `on_retry(err, attempt, delay)` is told of
--- each. An error with a number `retry_after` (seconds, as an HTTP
--- server's Retry-After asks) sets the delay after it instead of the
--- backoff, capped by `max`. The promise fulfils with fn's result or rejects with the last
--- error, unchanged. `signal=` stops the attempts and the sleeps.
--- @param fn fun(attempt: integer): any
--- @param opts table|nil
--- @return tide.promise
local function retry(fn, opts)
  check.callable(fn, 1, "retry")
  local sig, rejected = signal.options(opts, "tide.retry", 2, known)
  local o = option_values(opts)
  if rejected then return rejected end
  return signal.spawn(sig, function()
    for attempt = 1, o.attempts do
      local ok, res = core.pawait(core.spawn(fn, attempt))
      if ok then return res end
      if attempt == o.attempts or core.is_error(res, "cancelled")
          or (o.should_retry and not o.should_retry(res, attempt)) then
        error(res, 0)
      end
      local delay = backoff(o, attempt)
      local after = type(res) == "table" and rawget(res, "retry_after")
      if type(after) == "number" and after == after then
        delay = after < 0 and 0 or min(o.max, after)
      end
      if o.on_retry then o.on_retry(res, attempt, delay) end
      core.sleep(delay):await()
    end
  end)
end

return { retry = retry, backoff = backoff }
