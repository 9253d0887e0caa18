--- A FIFO of waiters, each an operation that the waiting task's
--- cancellation or an abort signal takes out of the line: the shared piece
--- of channels and semaphores.
-- @module tide.waitqueue
local core = require "tide.core"
local signal = require "tide.signal"

local setmetatable = setmetatable

local Queue = {}
Queue.__index = Queue

local function new()
  return setmetatable({ first = 1, last = 0 }, Queue)
end

--- Adds a waiter carrying `value` and returns its promise. If the task
--- that waits is cancelled, or `sig` aborts, first, the waiter leaves the
--- line and the promise rejects with that error.
function Queue:push(value, sig)
  local w = { value = value }
  local p, resolve, reject = core.operation(function() w.gone = true end)
  w.resolve, w.reject = resolve, reject
  self.last = self.last + 1
  self[self.last] = w
  if sig then signal.link(sig, p) end
  return p
end

--- Takes the first waiter still waiting, or nil.
function Queue:shift()
  while self.first <= self.last do
    local w = self[self.first]
    self[self.first] = nil
    self.first = self.first + 1
    if not w.gone then return w end
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
