--- A FIFO of waiters, each a pending promise that an abort signal can take
--- out of the line: the shared piece of channels and semaphores.
-- @module tide.waitqueue
local core = require "tide.core"

local setmetatable = setmetatable

local Queue = {}
Queue.__index = Queue

local function new()
  return setmetatable({ first = 1, last = 0 }, Queue)
end

--- Adds a waiter carrying `value` and returns its promise. If `signal`
--- aborts first, the waiter leaves the line and the promise rejects with
--- the signal's reason.
function Queue:push(value, signal)
  local p, resolve, reject = core.deferred()
  local w = { value = value, resolve = resolve, reject = reject, promise = p }
  if signal then
    if signal.aborted then
      reject(signal.reason)
      return p
    end
    w.stop = signal:on_abort(function(reason)
      w.gone = true
      reject(reason)
    end)
  end
  self.last = self.last + 1
  self[self.last] = w
  return p
end

--- Takes the first waiter still waiting, or nil.
function Queue:shift()
  while self.first <= self.last do
    local w = self[self.first]
    self[self.first] = nil
    self.first = self.first + 1
    if not w.gone then
      if w.stop then w.stop() end
      return w
    end
  end
  return nil
end

--- Whether some waiter is still waiting.
function Queue:waiting()
  for i = self.first, self.last do
    if not self[i].gone then return true end
  end
  return false
end

return { new = new }
