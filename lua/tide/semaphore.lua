--- tide.semaphore: at most n holders at a time, first come first served.
--
--     local sem = tide.semaphore(4)
--     sem:with(function() return fetch(url) end):await()
-- @module tide.semaphore
local core = require "tide.core"
local signal = require "tide.signal"
local waitqueue = require "tide.waitqueue"
local checks = require "tide.check"

local setmetatable, type, error, tostring = setmetatable, type, error, tostring

--- @class tide.semaphore
--- @field available integer  permits free right now
local Semaphore = {}
Semaphore.__index = Semaphore
Semaphore.__name = "tide.semaphore"

local function check(sem, fname)
  checks.self(sem, Semaphore, "tide.semaphore", "sem", fname, 3)
end

--- Takes a permit; the promise fulfils when one is free. Waiters are served
--- in order.
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function Semaphore:acquire(opts)
  check(self, "acquire")
  local sig, rejected = signal.options(opts, "tide.semaphore:acquire", 1)
  if rejected then return rejected end
  if self.available > 0 and not self.waiters:waiting() then
    self.available = self.available - 1
    return core.op_settled(true, nil)
  end
  return self.waiters:push(nil, sig)
end

--- Gives a permit back (to the first waiter, if any).
--- @return nil
function Semaphore:release()
  check(self, "release")
  local w = self.waiters:shift()
  if w then
    w.resolve(nil)
  elseif self.available < self.size then
    self.available = self.available + 1
  else
    error("tide.semaphore: release without a matching acquire", 2)
  end
end

--- Runs `fn(...)` as a task while holding a permit, released however `fn`
--- ends. Returns a promise of its result.
--- @param fn function
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function Semaphore:with(fn, opts)
  check(self, "with")
  checks.callable(fn, 1, "with")
  local sig, rejected = signal.options(opts, "tide.semaphore:with", 2)
  if rejected then return rejected end
  return signal.spawn(sig, function()
    self:acquire(opts):await()
    local _ <close> = setmetatable({}, { __close = function() self:release() end })
    return fn()
  end)
end

function Semaphore:__tostring()
  return ("tide.semaphore (%d of %d free)"):format(self.available, self.size)
end

--- A semaphore with `n` permits.
--- @param n integer
--- @return tide.semaphore
local function semaphore(n)
  if math.type(n) ~= "integer" or n < 1 then
    error(("bad argument #1 to 'semaphore' (positive integer expected, got %s)"):format(
      type(n) == "number" and tostring(n) or type(n)), 2)
  end
  return setmetatable({ size = n, available = n, waiters = waitqueue.new() }, Semaphore)
end

return { semaphore = semaphore }
