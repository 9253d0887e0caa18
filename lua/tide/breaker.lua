--- tide.breaker: a circuit breaker. After `threshold` failures in a row it
--- opens and fails calls fast with an `open_circuit` error; after
--- `cooldown` seconds it lets one trial call through (half open): success
--- closes it, failure opens it again.
-- @module tide.breaker
local core = require "tide.core"
local check = require "tide.check"

local setmetatable, type, error, pcall = setmetatable, type, error, pcall

local known = { threshold = true, cooldown = true }

--- @class tide.breaker
--- @field state "closed"|"open"|"half_open"
--- @field failures integer  failures in a row
local Breaker = {}
Breaker.__name = "tide.breaker"

-- `state` is worked out when read: an open circuit whose cooldown has
-- passed reads as half open, before any call tries it.
function Breaker.__index(b, k)
  if k == "state" then
    local s = rawget(b, "_state")
    if s == "open" and core.now() - b.opened_at >= b.cooldown and not b.trial then return "half_open" end
    return s
  end
  return Breaker[k]
end
function Breaker.__newindex(b, k, v)
  if k == "state" then rawset(b, "_state", v) else rawset(b, k, v) end
end

local function open_error(b)
  local left = b.opened_at + b.cooldown - core.now()
  return core.error("open_circuit", ("circuit open after %d failures; retry in %.1f s"):format(
    b.failures, left > 0 and left or 0), { retry_in = left > 0 and left or 0 })
end

local function outcome(b, ok)
  if ok then
    b.failures = 0
    b.state = "closed"
  else
    b.failures = b.failures + 1
    if b.state == "half_open" or b.failures >= b.threshold then
      b.state = "open"
      b.opened_at = core.now()
    end
  end
  b.trial = false
end

--- Calls `fn(...)` in a task through the breaker. Returns a promise of its
--- result; while the circuit is open it rejects at once with an
--- `open_circuit` error.
--- @param fn function
--- @return tide.promise
function Breaker:call(fn, ...)
  check.self(self, Breaker, "tide.breaker", "breaker", "call")
  check.callable(fn, 1, "call")
  local state = rawget(self, "_state")
  if state == "open" then
    if core.now() - self.opened_at < self.cooldown then return core.reject(open_error(self)) end
    self.state = "half_open"
    state = "half_open"
  end
  if state == "half_open" then
    if self.trial then return core.reject(open_error(self)) end
    self.trial = true
  end
  -- The outcome is recorded the moment the call ends, so that the very
  -- next call sees the new state.
  return core.spawn(function(...)
    local ok, res = pcall(fn, ...)
    if ok then
      outcome(self, true)
      return res
    end
    -- A call cancelled by its caller says nothing about the service.
    if core.is_error(res, "cancelled") then self.trial = false else outcome(self, false) end
    error(res, 0)
  end, ...)
end

function Breaker:__tostring()
  return ("tide.breaker (%s, %d failures)"):format(self.state, self.failures)
end

--- A new breaker: `threshold` failures in a row (default 5) open it for
--- `cooldown` seconds (default 30).
--- @param opts {threshold: integer, cooldown: number}|nil
--- @return tide.breaker
local function breaker(opts)
  opts = check.options(opts, known, "tide.breaker", 1) or {}
  local threshold, cooldown = opts.threshold or 5, opts.cooldown or 30
  if math.type(threshold) ~= "integer" or threshold < 1 then
    error("bad option 'threshold' to 'breaker' (positive integer expected)", 2)
  end
  if type(cooldown) ~= "number" or cooldown ~= cooldown or cooldown < 0 then
    error("bad option 'cooldown' to 'breaker' (non-negative number expected)", 2)
  end
  return setmetatable({ threshold = threshold, cooldown = cooldown, _state = "closed", failures = 0,
                        opened_at = 0, trial = false }, Breaker)
end

return { breaker = breaker }
