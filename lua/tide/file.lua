--- tide.file: an open file whose every call returns a promise
--- (`tide.fs.open(path, mode)` makes one).
--
--     local f <close> = tide.fs.open("data.bin", "rb"):await()
--     for chunk in f:chunks(65536) do ... end
--
-- Reads and writes are libuv fs requests (tide.core's fs_read, fs_write)
-- in its thread pool. A file runs its calls one at a time, in the order
-- they were made: `f:write(a)` then `f:write(b)` without awaiting the first
-- writes a then b, and `f:close()` waits for the calls before it. Each call
-- is an operation of the task that made it: cancelling that task, its
-- signal= or the promise itself rejects it at once; a request already in
-- libuv's pool still finishes before the next call starts (so a descriptor
-- is never closed, nor a position reused, under a request in flight). A
-- cancelled read that had started leaves the position where it was; a
-- cancelled write that had started may have written its bytes.
--
-- The position is the file's own (reads and writes give libuv the offset),
-- except on what cannot seek (a pipe, a terminal, /dev/full), where the
-- system's position is used and seek rejects with ESPIPE. In append mode
-- every write goes to the end, and the position follows it there.
-- @module tide.file
local core = require "tide.core"
local signal = require "tide.signal"
local stream = require "tide.stream"
local check = require "tide.check"

local setmetatable, getmetatable, type, error, tostring = setmetatable, getmetatable, type, error, tostring
local math_type, min = math.type, math.min
local queue_microtask = core.queue_microtask

local READ_MAX = core.READ_MAX
-- chunks() and lines() read in pieces of this size by default.
local CHUNK = 64 * 1024

--- @class tide.file
local File = {}
File.__index = File
File.__name = "tide.file"

local function check_file(f, fname)
  check.self(f, File, "tide.file", "file", fname, 3)
end

-- Errors from descriptor calls do not know the path.
local function with_path(err, path)
  if core.is_error(err, "fs") and err.path == nil then
    err.path = path
    err.message = path .. ": " .. err.message
  end
  return err
end

-- An `fs` error about the file at path.
local function fs_error(path, code, what, syscall)
  return core.error("fs", ("%s: %s (%s)"):format(path, what, syscall),
    { code = code, path = path, syscall = syscall })
end

local function closed_error(f)
  return core.error("closed", ("attempt to use a closed tide.file (%s)"):format(f.path), { path = f.path })
end

-- Why f cannot be read (or, `writing`, written) now; nil if it can.
local function unusable(f, writing)
  if f._state ~= "open" then return closed_error(f) end
  if writing and not f._writable then return fs_error(f.path, "EBADF", "file not opened for writing", "write") end
  if not writing and not f._readable then return fs_error(f.path, "EBADF", "file not opened for reading", "read") end
end

-- The offset to give libuv: the file's position, or -1 (the system's)
-- where it cannot seek.
local function offset(f)
  return f._seekable and f._pos or -1
end

-- The calls of a file wait in f._jobs; one runs at a time. A job is
-- { work = function(f, job) -> promise, resolve, reject, gone }.
local pump

local function finish(f, job, ok, v)
  f._busy = false
  if ok then job.resolve(v) else job.reject(with_path(v, f.path)) end
  pump(f)
end

local function start(f)
  local jobs = f._jobs
  while f._head <= f._tail do
    local job = jobs[f._head]
    jobs[f._head] = nil
    f._head = f._head + 1
    if not job.gone then
      f._busy = true
      -- Outside any task (a microtask or a completion): the request is no
      -- operation of the caller's task, so cancelling that task leaves it
      -- to finish while the queue waits for it.
      local ok, p = pcall(job.work, f, job)
      if not ok then
        finish(f, job, false, p)
      else
        p:next(function(v) finish(f, job, true, v) end, function(e) finish(f, job, false, e) end)
      end
      return
    end
  end
end

function pump(f)
  if f._busy or f._head > f._tail or f._pumping then return end
  f._pumping = true
  queue_microtask(function()
    f._pumping = false
    if not f._busy then start(f) end
  end)
end

-- Queues work(f, job) as the file's next call; returns its promise, an
-- operation of the calling task that `sig` can abort (unless `firm`: a
-- close always happens, whoever stops waiting for it).
local function enqueue(f, sig, work, firm)
  if f._state ~= "open" then return core.reject(closed_error(f)) end
  local job = { work = work }
  local p, resolve, reject
  if firm then
    p, resolve, reject = core.deferred()
  else
    p, resolve, reject = core.operation(function() job.gone = true end)
  end
  job.resolve, job.reject = resolve, reject
  f._tail = f._tail + 1
  f._jobs[f._tail] = job
  if sig then signal.link(sig, p) end
  pump(f)
  return p
end

local function call_options(opts, fname, n)
  return signal.options(opts, "tide.file:" .. fname, n, nil, 2) -- (a tail call: no frame of its own)
end

--- Up to `n` bytes from the position (a promise of a string; nil at the
--- end of the file). At most core.READ_MAX (64 MiB) are read at once.
--- @param n integer
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function File:read(n, opts)
  check_file(self, "read")
  if math_type(n) ~= "integer" or n < 1 then
    error(("bad argument #1 to 'read' (positive integer expected, got %s)"):format(
      math_type(n) and tostring(n) or type(n)), 2)
  end
  local sig, rejected = call_options(opts, "read", 2)
  if rejected then return rejected end
  local bad = unusable(self, false)
  if bad then return core.reject(bad) end
  local size = min(n, READ_MAX)
  return enqueue(self, sig, function(f, job)
    return core.fs_read(f._fd, size, offset(f), f.path):next(function(s)
      if s == "" then return nil end
      if not job.gone then f._pos = f._pos + #s end
      return s
    end)
  end)
end

-- Writes all of s at the position (a request may write less than asked).
local function write_all(f, s, done)
  local part = done == 0 and s or s:sub(done + 1)
  return core.fs_write(f._fd, part, f._append and -1 or offset(f), f.path):next(function(n)
    f._pos = f._pos + n
    done = done + n
    if done < #s then return write_all(f, s, done) end
    if f._append and f._seekable then
      -- The system put the bytes at the end: follow them there.
      return core.fs_fstat(f._fd, f.path):next(function(st) f._pos = st.size; return f end)
    end
    return f
  end)
end

--- Writes `s` at the position (at the end in append mode). A promise of
--- the file, once every byte is written.
--- @param s string
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function File:write(s, opts)
  check_file(self, "write")
  if type(s) ~= "string" then
    error(("bad argument #1 to 'write' (string expected, got %s)"):format(type(s)), 2)
  end
  local sig, rejected = call_options(opts, "write", 2)
  if rejected then return rejected end
  local bad = unusable(self, true)
  if bad then return core.reject(bad) end
  if s == "" then return enqueue(self, sig, function(f) return core.resolve(f) end) end
  return enqueue(self, sig, function(f) return write_all(f, s, 0) end)
end

local whences = { set = true, cur = true, ["end"] = true }

--- Moves the position, as io's seek: `whence` "set", "cur" (the default)
--- or "end", plus `offset` (default 0). A promise of the new position;
--- rejects with EINVAL for a position before the start, ESPIPE for what
--- cannot seek.
--- @param whence "set"|"cur"|"end"|nil
--- @param off integer|nil
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function File:seek(whence, off, opts)
  check_file(self, "seek")
  whence = whence == nil and "cur" or whence
  if not whences[whence] then
    error(("bad argument #1 to 'seek' (invalid option '%s')"):format(tostring(whence)), 2)
  end
  off = off == nil and 0 or off
  if math_type(off) ~= "integer" then
    error(("bad argument #2 to 'seek' (integer expected, got %s)"):format(math_type(off) and "float" or type(off)), 2)
  end
  local sig, rejected = call_options(opts, "seek", 3)
  if rejected then return rejected end
  return enqueue(self, sig, function(f)
    if not f._seekable then return core.reject(fs_error(f.path, "ESPIPE", "illegal seek", "seek")) end
    local function move(base)
      local pos = base + off
      if pos < 0 then error(fs_error(f.path, "EINVAL", "invalid argument", "seek"), 0) end
      f._pos = pos
      return pos
    end
    if whence == "set" then return core.resolve(move(0)) end
    if whence == "cur" then return core.resolve(move(f._pos)) end
    return core.fs_fstat(f._fd, f.path):next(function(st) return move(st.size) end)
  end)
end

--- The size of the file in bytes (a promise), after the calls before it.
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function File:size(opts)
  check_file(self, "size")
  local sig, rejected = call_options(opts, "size", 1)
  if rejected then return rejected end
  return enqueue(self, sig, function(f)
    return core.fs_fstat(f._fd, f.path):next(function(st) return st.size end)
  end)
end

--- Closes the file once the calls made before have run; later calls
--- reject with a `closed` error. Closing a closed file does nothing.
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function File:close(opts)
  check_file(self, "close")
  local sig, rejected = call_options(opts, "close", 1)
  if rejected then return rejected end
  if self._state ~= "open" then return self._closing or core.resolve(nil) end
  local p = enqueue(self, nil, function(f)
    local fd = f._fd
    return core.fs_close(fd, f.path):next(function()
      f._fd, f._state = nil, "closed"
    end, function(e)
      -- The descriptor is gone either way (close(2) releases it).
      f._fd, f._state = nil, "closed"
      error(e, 0)
    end)
  end, true)
  self._state, self._closing = "closing", p
  return signal.follow(p, sig)
end

--- A stream of the file's contents in pieces of up to `size` bytes
--- (default 64 KiB), from the position on. Ending the stream leaves the
--- file open.
--- @param size integer|nil
--- @return tide.stream
function File:chunks(size)
  check_file(self, "chunks")
  size = size == nil and CHUNK or size
  if math_type(size) ~= "integer" or size < 1 then
    error(("bad argument #1 to 'chunks' (positive integer expected, got %s)"):format(
      math_type(size) and tostring(size) or type(size)), 2)
  end
  local f = self
  return stream.producer(stream.new(function() return f:read(size):await() end))
end

--- A stream of the lines from the position on, without "\n" or "\r\n".
--- The file is read in chunks (its position then goes past the last line
--- given); ending the stream leaves the file open.
--- @return tide.stream
function File:lines()
  check_file(self, "lines")
  local f = self
  return stream.lines(function() return f:read(CHUNK):await() end)
end

function File:__tostring()
  local state = self._state == "open" and ("open at " .. self._pos) or self._state
  return ("tide.file (%s, %s, %s)"):format(self.path, self.mode, state)
end

-- `local f <close> = ...`: closes it, waiting as a close does.
function File:__close()
  if self._state == "open" then core.await(self:close()) end
end

-- Dropped without a close: the descriptor is closed at once, here (a
-- finalizer starts no operation). A file with calls in flight is reachable
-- from them, so this never closes under a request.
function File:__gc()
  if self._fd and self._state ~= "closed" then
    core.fs_close_now(self._fd)
    self._fd = nil
  end
end

-- with_path, fs_error and unusable serve tide.fs and tide.http's file bodies too.
local M = { File = File, CHUNK = CHUNK, with_path = with_path, fs_error = fs_error, unusable = unusable }

--- Whether v is a tide.file.
--- @param v any
--- @return boolean
function M.is_file(v) return getmetatable(v) == File end

--- The file object for descriptor fd, opened at `path` with `mode` (a
--- mode as io.open's, with its "b" removed). Private: tide.fs.open.
function M.new(fd, path, mode, st)
  local kind = st.type
  return setmetatable({
    path = path, mode = mode, _fd = fd, _pos = 0, _state = "open",
    _readable = mode == "r" or mode:find("+", 1, true) ~= nil,
    _writable = mode ~= "r",
    _append = mode:sub(1, 1) == "a",
    _seekable = kind == "file" or kind == "block",
    _jobs = {}, _head = 1, _tail = 0, _busy = false,
  }, File)
end

return M
