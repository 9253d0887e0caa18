--- tide.sse: server-sent events (text/event-stream) parsed as the HTML
--- standard's "Server-sent events" section says: lines end with CRLF, LF
--- or CR (also split across pieces); a leading BOM is dropped; lines
--- starting with ":" are comments; `data` lines are joined with "\n";
--- `event` names the next event ("message" by default); `id` (without
--- NUL) sets the last event ID at the next blank line, and later events
--- keep it; `retry` (ASCII
--- digits only) sets the reconnection time in milliseconds; an empty line
--- dispatches the event, unless it has no data; an event cut short by the
--- end of the stream is dropped.
---
---     local p = require("tide.sse").parser()
---     for _, ev in ipairs(p:feed("data: hi\n\n")) do print(ev.event, ev.data) end
-- @module tide.sse
local stream = require "tide.stream"

local type, error, setmetatable, tonumber, tointeger = type, error, setmetatable, tonumber, math.tointeger
local concat, find, sub, byte = table.concat, string.find, string.sub, string.byte

--- @class tide.sse.event
--- @field event string   the type ("message" unless the server named one)
--- @field data string    the data lines joined with "\n"
--- @field id string|nil  the last event ID (as set by this or an earlier event)
--- @field retry integer|nil  the reconnection time the server asked for (ms), if any

--- @class tide.sse.parser
--- @field last_id string|nil  the last event ID so far
--- @field retry integer|nil   the server's reconnection time (ms), if it gave one
local Parser = {}
Parser.__index = Parser

--- A parser: feed it the body's pieces, in order.
--- @return tide.sse.parser
local function parser()
  return setmetatable({ _rest = {}, _nrest = 0, _bom = true, _cr = false, _data = nil, _n = 0, _type = nil,
                        _id = nil }, Parser)
end

-- One line (without its end) into the parser p; appends a dispatched event to out.
local function line(p, l, out)
  if l == "" then
    -- The last event ID is set at every blank line, data or not.
    p.last_id = p._id
    if p._n > 0 then
      out[#out + 1] = { event = p._type or "message", data = concat(p._data, "\n", 1, p._n), id = p.last_id,
                        retry = p.retry }
    end
    p._n, p._data, p._type = 0, nil, nil
    return
  end
  if byte(l, 1) == 58 then return end -- ":" a comment
  local field, value
  local colon = find(l, ":", 1, true)
  if colon then
    field, value = sub(l, 1, colon - 1), sub(l, colon + 1)
    if byte(value, 1) == 32 then value = sub(value, 2) end
  else
    field, value = l, ""
  end
  if field == "data" then
    p._data = p._data or {}
    p._n = p._n + 1
    p._data[p._n] = value
  elseif field == "event" then
    p._type = value
  elseif field == "id" then
    if not find(value, "\0", 1, true) then p._id = value end
  elseif field == "retry" then
    if find(value, "^%d+$") then p.retry = tointeger(tonumber(value)) or p.retry end
  end
end

--- The events that `piece` (the next piece of the body) completes.
--- @param piece string
--- @return tide.sse.event[]
function Parser:feed(piece)
  local out = {}
  if self._bom then
    -- The BOM may itself come in pieces: wait for three bytes.
    local s = concat(self._rest, "", 1, self._nrest) .. piece
    self._rest, self._nrest = {}, 0
    if #s < 3 and s == sub("\239\187\191", 1, #s) then
      self._rest[1], self._nrest = s, 1
      return out
    end
    self._bom = false
    if sub(s, 1, 3) == "\239\187\191" then s = sub(s, 4) end
    piece = s
  end
  -- A CR that ended the last piece ended a line; an LF right after it
  -- belongs to that line end.
  if self._cr and byte(piece, 1) == 10 then piece = sub(piece, 2) end
  self._cr = false
  if not find(piece, "[\r\n]") then
    -- No line ends: kept aside (a long line costs time linear in it).
    if piece ~= "" then
      self._nrest = self._nrest + 1
      self._rest[self._nrest] = piece
    end
    return out
  end
  local s, at = piece, 1
  if self._nrest > 0 then
    s = concat(self._rest, "", 1, self._nrest) .. piece
    self._rest, self._nrest = {}, 0
  end
  while true do
    local i = find(s, "[\r\n]", at)
    if not i then break end
    line(self, sub(s, at, i - 1), out)
    if byte(s, i) == 13 then
      if i == #s then
        self._cr = true
      elseif byte(s, i + 1) == 10 then
        i = i + 1
      end
    end
    at = i + 1
  end
  if at <= #s then self._rest[1], self._nrest = sub(s, at), 1 end
  return out
end

--- A stream of the events in the text that `read()` returns piece by piece
--- (a string, or nil at the end); `close` stops the source. The parser is
--- `p` if given (its last_id and retry are then the caller's to see).
--- @param read fun(): string|nil
--- @param close fun()|nil
--- @param p tide.sse.parser|nil
--- @return tide.stream
local function events(read, close, p)
  p = p or parser()
  local queue, head = {}, 1
  return stream.new(function()
    while not queue[head] do
      local piece = read()
      if piece == nil then return nil end
      if type(piece) ~= "string" then error("an event stream's source must give strings", 0) end
      queue, head = p:feed(piece), 1
    end
    local ev = queue[head]
    queue[head] = nil
    head = head + 1
    return ev
  end, close)
end

return { parser = parser, events = events }
