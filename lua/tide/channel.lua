--- tide.channel: a queue between tasks, with back-pressure.
--
--     local ch = tide.channel(10)
--     tide.spawn(function() for i = 1, 100 do ch:send(i):await() end ch:close() end)
--     for v in ch do print(v) end   -- inside a task or at the top level
-- @module tide.channel
local core = require "tide.core"
local signal = require "tide.signal"
local stream = require "tide.stream"
local waitqueue = require "tide.waitqueue"
local checks = require "tide.check"

local setmetatable, type, error, tostring = setmetatable, type, error, tostring

--- @class tide.channel
local Channel = {}
Channel.__index = Channel
Channel.__name = "tide.channel"

local function check(ch, fname)
  checks.self(ch, Channel, "tide.channel", "channel", fname, 3)
end

local function closed_error()
  return core.error("closed", "the channel is closed")
end

--- Sends `v` (not nil). The promise fulfils once the value is in the
--- channel: at once while there is room or a receiver waits, otherwise
--- when a receiver makes room. On a closed channel it rejects with a
--- `closed` error.
--- @param v any
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function Channel:send(v, opts)
  check(self, "send")
  if v == nil then error("bad argument #1 to 'send' (a channel cannot carry nil: nil marks its end)", 2) end
  local sig, rejected = signal.options(opts, "tide.channel:send", 2)
  if rejected then return rejected end
  if self.closed then return core.op_settled(false, closed_error()) end
  local r = self.receivers:shift()
  if r then
    r.resolve(v)
    return core.op_settled(true, nil)
  end
  if self.count < self.capacity then
    self.count = self.count + 1
    self.tail = self.tail + 1
    self.items[self.tail] = v
    return core.op_settled(true, nil)
  end
  return self.senders:push(v, sig)
end

--- Sends `v` only if that needs no waiting (room in the channel or a
--- receiver waiting): for callbacks, which cannot await. Returns true if
--- it was sent, false if the channel is full; raises a `closed` error on a
--- closed channel.
--- @param v any
--- @return boolean
function Channel:try_send(v)
  check(self, "try_send")
  if v == nil then error("bad argument #1 to 'try_send' (a channel cannot carry nil: nil marks its end)", 2) end
  if self.closed then error(closed_error(), 2) end
  local r = self.receivers:shift()
  if r then
    r.resolve(v)
    return true
  end
  if self.count < self.capacity then
    self.count = self.count + 1
    self.tail = self.tail + 1
    self.items[self.tail] = v
    return true
  end
  return false
end

-- Takes the next value that is already available, or nil.
local function take(self)
  if self.count > 0 then
    local v = self.items[self.head]
    self.items[self.head] = nil
    self.head = self.head + 1
    self.count = self.count - 1
    -- A waiting sender's value takes the freed place.
    local s = self.senders:shift()
    if s then
      self.count = self.count + 1
      self.tail = self.tail + 1
      self.items[self.tail] = s.value
      s.resolve(nil)
    end
    return v
  end
  local s = self.senders:shift()
  if s then
    s.resolve(nil)
    return s.value
  end
  return nil
end

--- Receives the next value; waits while the channel is empty. Fulfils with
--- nil once the channel is closed and drained.
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function Channel:recv(opts)
  check(self, "recv")
  local sig, rejected = signal.options(opts, "tide.channel:recv", 1)
  if rejected then return rejected end
  local v = take(self)
  if v ~= nil then return core.op_settled(true, v) end
  if self.closed then return core.op_settled(true, nil) end
  return self.receivers:push(nil, sig)
end

--- Receives a value only if one is there already: the value, or nil (empty,
--- or closed and drained).
--- @return any
function Channel:try_recv()
  check(self, "try_recv")
  return take(self)
end

--- Closes the channel: waiting receivers get nil, waiting senders a
--- `closed` error; values already in it can still be received.
--- @return nil
function Channel:close()
  check(self, "close")
  if self.closed then return end
  self.closed = true
  local r = self.receivers:shift()
  while r do
    r.resolve(nil)
    r = self.receivers:shift()
  end
  local s = self.senders:shift()
  while s do
    s.reject(closed_error())
    s = self.senders:shift()
  end
end

--- The next value, awaited (the stream protocol; nil at the end).
--- @return any
function Channel:pull()
  check(self, "pull")
  return core.await(self:recv())
end
Channel.__call = Channel.pull

-- Streams over a channel: map, filter, take, collect, each. Ending such a
-- view does not close the channel, which others may still use. `collect`
-- and `each` take options, checked here so that errors name the channel.
local options_arg = { collect = 1, each = 2 }
for _, name in ipairs { "map", "filter", "take", "collect", "each" } do
  local n, fname = options_arg[name], "tide.channel:" .. name
  Channel[name] = function(self, ...)
    check(self, name)
    if n then checks.options((select(n, ...)), nil, fname, n) end
    local view = stream.new(function() return self:pull() end)
    return view[name](view, ...)
  end
end

function Channel:__tostring()
  return ("tide.channel (%s, %d/%d)"):format(self.closed and "closed" or "open", self.count, self.capacity)
end

--- A channel that holds up to `capacity` values (default 0: every send
--- waits for a receiver).
--- @param capacity integer|nil
--- @return tide.channel
local function channel(capacity)
  capacity = capacity or 0
  if math.type(capacity) ~= "integer" or capacity < 0 then
    error(("bad argument #1 to 'channel' (non-negative integer expected, got %s)"):format(
      type(capacity) == "number" and tostring(capacity) or type(capacity)), 2)
  end
  return setmetatable({
    capacity = capacity, count = 0, head = 1, tail = 0, items = {}, closed = false,
    senders = waitqueue.new(), receivers = waitqueue.new(),
  }, Channel)
end

return { channel = channel }
