--- tide.pipe: moves every chunk of a source into a sink, with
--- back-pressure, in bounded memory.
--
--     local n = tide.pipe("in.bin", "out.bin"):await()
--     tide.pipe(res:chunks(), file, { on_progress = print }):await()
--     tide.pipe(tide.generator(produce), function(chunk) send(chunk) end):await()
--
-- The source is read only as fast as the sink takes what it gives: one
-- chunk is in hand at a time. The pipe runs as a task (its promise is that
-- task, so it can be cancelled); it follows `signal=`.
-- @module tide.pipe
local core = require "tide.core"
local signal = require "tide.signal"
local stream = require "tide.stream"
local file = require "tide.file"
local check = require "tide.check"

local getmetatable, type, error, pcall = getmetatable, type, error, pcall
local await, is_file = core.await, file.is_file

local options = { signal = true, on_progress = true }

-- The size of the chunks read from a file the pipe reads itself.
local CHUNK = 256 * 1024

local function usage(msg) return core.error("usage", "tide.pipe: " .. msg) end

-- What kind of source `v` is: "path", "file", "stream" (anything with a
-- pull method: streams, channels) or "function"; nil for anything else.
local function source_kind(v)
  local t = type(v)
  if t == "string" then return "path" end
  if is_file(v) then return "file" end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__index) == "table" and type(mt.__index.pull) == "function" then
    return "stream"
  end
  if check.is_callable(v) then return "function" end
  return nil
end

local function is_channel(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "tide.channel"
end

local function sink_kind(v)
  if type(v) == "string" then return "path" end
  if is_file(v) then return "file" end
  if is_channel(v) then return "channel" end
  if check.is_callable(v) then return "function" end
  return nil
end

-- A to-be-closed value for a file the pipe opened (closed whatever happens).
local function owned(f)
  return setmetatable({}, { __close = function() core.await(f:close()) end })
end

--- Moves every chunk of `source` into `sink`; a promise of the number of
--- bytes moved (the lengths of the string chunks).
---
--- `source`: a path (the pipe opens the file and closes it), a tide.file
--- (read from its position in 256 KiB chunks; left open), a stream or a
--- channel (anything with `pull`), or a function returning the next chunk
--- (nil at the end); it may await.
--- `sink`: a path (opened "w", closed by the pipe), a tide.file (written
--- at its position; left open), a channel (each chunk sent, waiting while
--- it is full; left open), or a function called with each chunk, which may
--- await (a promise it returns is awaited too).
---
--- A failure on either side rejects the pipe with that error; the source
--- stream is then closed (which stops a generator or a transfer) and so are
--- the files the pipe opened, and only those. `opts`: `signal`,
--- `on_progress(bytes)` called after each chunk with the total so far.
--- @param source string|tide.file|tide.stream|tide.channel|fun(): string|nil
--- @param sink string|tide.file|tide.channel|fun(chunk: any)
--- @param opts {signal: tide.signal, on_progress: fun(bytes: integer)}|nil
--- @return tide.promise
local function pipe(source, sink, opts)
  local skind, dkind = source_kind(source), sink_kind(sink)
  if not skind then
    error(("bad argument #1 to 'pipe' (path, tide.file, stream or function expected, got %s)"):format(
      type(source)), 2)
  end
  if not dkind then
    error(("bad argument #2 to 'pipe' (path, tide.file, channel or function expected, got %s)"):format(
      type(sink)), 2)
  end
  local sig, rejected = signal.options(opts, "tide.pipe", 3, options)
  if rejected then return rejected end
  local on_progress = opts and opts.on_progress
  if on_progress ~= nil and not check.is_callable(on_progress) then
    error(("bad option 'on_progress' to 'pipe' (function expected, got %s)"):format(type(on_progress)), 2)
  end
  local fs = require "tide.fs" -- (tide.fs requires tide.file, as this does)
  return signal.spawn(sig, function()
    -- The source first: a missing input leaves no empty output behind.
    local src, in_guard
    if skind == "path" then
      local f = fs.open(source, "r"):await()
      in_guard = owned(f)
      src = f:chunks(CHUNK)
    elseif skind == "file" then
      src = source:chunks(CHUNK)
    elseif skind == "stream" then
      src = source
    else
      src = stream.new(function() return source() end)
    end
    local _ <close> = in_guard

    local out, out_guard
    if dkind == "path" then
      out = fs.open(sink, "w"):await()
      out_guard = owned(out)
    elseif dkind == "file" then
      out = sink
    end
    local _ <close> = out_guard

    -- An early end (a failure, a cancellation) closes a tide.stream source;
    -- a channel is left to its owners.
    local closes = getmetatable(src) == stream.Stream
    local ok, res = pcall(function()
      local moved = 0
      while true do
        local chunk = src:pull()
        if chunk == nil then break end
        if out then
          if type(chunk) ~= "string" then
            error(usage(("a chunk for a file must be a string (got %s)"):format(type(chunk))), 0)
          end
          await(out:write(chunk))
        elseif dkind == "channel" then
          await(sink:send(chunk))
        else
          await(sink(chunk))
        end
        if type(chunk) == "string" then moved = moved + #chunk end
        if on_progress then on_progress(moved) end
      end
      return moved
    end)
    if not ok then
      if closes then src:close() end
      error(res, 0)
    end
    return res
  end)
end

return { pipe = pipe }
