--- Streams: async iteration with back-pressure.
--
-- A stream hands out items one at a time; nil means it has ended. Inside a
-- task (or at the top level) iterate it with a generic for -- each step
-- awaits:
--
--     for line in tide.fs.lines(path) do ... end
--     local firsts = tide.generator(produce):map(parse):take(3):collect():await()
--
-- Every stream implements `pull()`: the next item or nil, awaiting as needed,
-- called from the consumer's own context (so callbacks given to map/filter
-- may await, and nothing is read ahead of what is asked for). `read()` is
-- the same as a promise, for use with combinators. Functions that make a
-- stream return `stream, nil, nil, stream`: the fourth value is the closing
-- value of a generic for, so breaking out of the loop closes the stream.
-- @module tide.stream
local core = require "tide.core"
local signal = require "tide.signal"
local check = require "tide.check"

local spawn, await = core.spawn, core.await
local setmetatable, type, error = setmetatable, type, error

--- @class tide.stream
local Stream = {}
Stream.__index = Stream
Stream.__name = "tide.stream"

local function check_fn(fn, fname)
  check.callable(fn, 1, fname, 3)
end

local function check_stream(s, fname)
  check.self(s, Stream, "tide.stream", "stream", fname, 3)
end

--- Makes a stream from `pull` (returns the next item or nil, may await) and
--- an optional `close` (stops the source; called at most once).
--- @param pull fun(self: tide.stream): any
--- @param close fun(self: tide.stream)|nil
--- @return tide.stream
local function new(pull, close, fields)
  check.callable(pull, 1, "new")
  if close ~= nil then check.callable(close, 2, "new") end
  local s = fields or {}
  s._pull, s._close, s.done = pull, close, false
  return setmetatable(s, Stream)
end

--- The next item, or nil once the stream has ended (awaits as needed).
--- Pulls from several tasks at once take turns: a source sees one at a time.
--- @return any
function Stream:pull()
  check_stream(self, "pull")
  while self._busy do await(self._busy) end
  if self.done then return nil end
  local turn, release = core.deferred()
  self._busy = turn
  local ok, v = pcall(self._pull, self)
  self._busy = nil
  release()
  if not ok then
    self:close()
    error(v, 0)
  end
  if v == nil then self:close() end
  return v
end

--- A promise of the next item (nil at the end).
--- @return tide.promise
function Stream:read()
  check_stream(self, "read")
  return spawn(self.pull, self)
end

--- Stops the stream and releases what it holds; later pulls give nil.
--- @return nil
function Stream:close()
  check_stream(self, "close")
  if self.done then return end
  self.done = true
  if self._close then self:_close() end
end

-- `for item in stream do` calls the stream; `<close>` and for's closing value
-- close it.
Stream.__call = Stream.pull
Stream.__close = Stream.close

function Stream:__tostring()
  return "tide.stream (" .. (self.done and "ended" or "open") .. ")"
end

--- What a function that makes a stream returns: `s, nil, nil, s`, so that
--- a generic for closes it when left.
--- @param s tide.stream
--- @return tide.stream, nil, nil, tide.stream
local function producer(s) return s, nil, nil, s end

--- A stream of `f(item)` for each item; `f` may await.
--- @param f fun(item: any): any
function Stream:map(f)
  check_stream(self, "map")
  check_fn(f, "map")
  local src = self
  return producer(new(function()
    local v = src:pull()
    if v == nil then return nil end
    return f(v)
  end, function() src:close() end))
end

--- A stream of the items for which `f(item)` is true; `f` may await.
--- @param f fun(item: any): boolean
function Stream:filter(f)
  check_stream(self, "filter")
  check_fn(f, "filter")
  local src = self
  return producer(new(function()
    while true do
      local v = src:pull()
      if v == nil or f(v) then return v end
    end
  end, function() src:close() end))
end

--- A stream of the first `n` items; the source is closed after the n-th,
--- so it produces nothing more.
--- @param n integer
function Stream:take(n)
  check_stream(self, "take")
  if math.type(n) ~= "integer" or n < 0 then
    error(("bad argument #1 to 'take' (non-negative integer expected, got %s)"):format(
      math.type(n) or type(n)), 2)
  end
  local src, left = self, n
  return producer(new(function()
    if left <= 0 then return nil end
    left = left - 1
    local v = src:pull()
    if left == 0 then src:close() end
    return v
  end, function() src:close() end))
end

--- A promise of every item in a list (with `.n`).
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function Stream:collect(opts)
  check_stream(self, "collect")
  local sig, rejected = signal.options(opts, "tide.stream:collect", 1)
  if rejected then return rejected end
  return signal.spawn(sig, function()
    local items, n = {}, 0
    -- The closing value: an error or a cancellation closes the source too.
    for v in self, nil, nil, self do
      n = n + 1
      items[n] = v
    end
    items.n = n
    return items
  end)
end

--- A promise that `f(item)` has run for every item; `f` may await.
--- @param f fun(item: any)
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function Stream:each(f, opts)
  check_stream(self, "each")
  check_fn(f, "each")
  local sig, rejected = signal.options(opts, "tide.stream:each", 2)
  if rejected then return rejected end
  return signal.spawn(sig, function()
    for v in self, nil, nil, self do f(v) end
  end)
end

local M = { new = new, producer = producer, Stream = Stream }

--- A stream of the lines in the text that `read()` returns piece by piece
--- (a string, or nil at the end), without their "\n" or "\r\n". Time is
--- linear in the text, however long a line is; `close` stops the source.
--- @param read fun(): string|nil
--- @param close fun()|nil
--- @return tide.stream
function M.lines(read, close)
  check.callable(read, 1, "lines")
  if close ~= nil then check.callable(close, 2, "lines") end
  local chunk, pos, eof = "", 1, false
  local parts, nparts = {}, 0 -- pieces of a line that spans chunks
  local function finish(piece, ended)
    local line = piece
    if nparts > 0 then
      nparts = nparts + 1
      parts[nparts] = piece
      line = table.concat(parts, "", 1, nparts)
      for i = 1, nparts do parts[i] = nil end
      nparts = 0
    end
    -- "\r\n" ends a line; a lone "\r" (or one before the end) is text.
    if ended and line:byte(-1) == 13 then line = line:sub(1, -2) end
    return line
  end
  return producer(new(function()
    while true do
      local nl = chunk:find("\n", pos, true)
      if nl then
        local piece = chunk:sub(pos, nl - 1)
        pos = nl + 1
        return finish(piece, true)
      end
      if pos <= #chunk then
        nparts = nparts + 1
        parts[nparts] = pos == 1 and chunk or chunk:sub(pos)
      end
      chunk, pos = "", 1
      if eof then
        if nparts == 0 then return nil end
        return finish("", false)
      end
      local more = read()
      if more == nil then
        eof = true
      elseif type(more) ~= "string" then
        error(core.error("usage", ("a lines source must give strings (got %s)"):format(type(more))), 0)
      else
        chunk = more
      end
    end
  end, close))
end

--- A stream over the values of a list (handy in tests and pipelines).
--- @param list table
function M.from(list)
  if type(list) ~= "table" then
    error(("bad argument #1 to 'from' (table expected, got %s)"):format(type(list)), 2)
  end
  local i, n = 0, check.length(list, 1, "from")
  return producer(new(function()
    if i >= n then return nil end
    i = i + 1
    return list[i]
  end))
end

--- `tide.generator(function(yield) ... end)`: a stream whose items the body
--- produces with `yield(v)`. The body runs as a task, starting at the first
--- read, and each `yield` waits until the consumer asks for the next item
--- (back-pressure: nothing is produced ahead). An error in the body is
--- raised to the reader; closing the stream cancels the body.
--- @param body fun(yield: fun(v: any))
--- @return tide.stream
function M.generator(body)
  check.callable(body, 1, "generator")
  local task            -- the body, once started
  local deliver, fail   -- settle the item the consumer waits for
  local go_on           -- lets the body continue past its yield
  local finished = false

  local function yield(v)
    if v == nil then error("a generator cannot yield nil (nil ends the stream)", 2) end
    local asked
    asked, go_on = core.deferred()
    deliver(v)
    await(asked)
  end

  local function run()
    local ok, err = pcall(body, yield)
    finished = true
    if ok then deliver(nil) else fail(err) end
  end

  local function pull()
    if finished then return nil end
    local item
    item, deliver, fail = core.deferred()
    if task == nil then
      task = spawn(run)  -- runs up to its first yield
    else
      go_on()
    end
    return await(item)
  end

  return producer(new(pull, function()
    if task and not finished then task:cancel("stream closed") end
  end))
end

return M
