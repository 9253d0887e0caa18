--- tide.fs: files on libuv's thread pool. Every function returns a promise
--- and takes `{signal=}` last; failures reject with `fs` errors carrying
--- `code` (libuv's error name, e.g. "ENOENT"), `path` and `syscall`.
--
--     local text = tide.fs.read("config.json"):await()
--     for line in tide.fs.lines("big.log") do ... end   -- bounded memory
-- @module tide.fs
local core = require "tide.core"
local signal = require "tide.signal"
local stream = require "tide.stream"
local tide_file = require "tide.file"

local pcall, error, type, setmetatable = pcall, error, type, setmetatable
local concat, sort, min, max = table.concat, table.sort, math.min, math.max

-- Reads and line scans go in chunks of this size.
local CHUNK = 64 * 1024
local READ_MAX = core.READ_MAX

local mkdir_options = { recursive = true, mode = true, signal = true }
local remove_options = { recursive = true, signal = true }

local fs = {}

local function check_path(path, fname, arg)
  if type(path) ~= "string" then
    error(("bad argument #%d to '%s' (string expected, got %s)"):format(arg or 1, fname, type(path)), 3)
  end
  if path:find("\0", 1, true) then
    error(("bad argument #%d to '%s' (path contains a zero byte)"):format(arg or 1, fname), 3)
  end
end

local function check_data(data, fname)
  if type(data) ~= "string" then
    error(("bad argument #2 to '%s' (string expected, got %s)"):format(fname, type(data)), 3)
  end
end

-- Errors from descriptor calls (read, write, close) do not know the path.
local with_path = tide_file.with_path

-- Checks opts (argument `n` of tide.fs.<fname>, which takes options
-- `known`, default just signal=), then runs body() as a task and returns
-- its promise, which follows opts.signal and names `path` in its errors.
local function run(fname, n, known, path, opts, body)
  local sig, rejected = signal.options(opts, "tide.fs." .. fname, n, known)
  if rejected then return rejected end
  return signal.spawn(sig, function()
    local ok, res = pcall(body)
    if not ok then error(with_path(res, path), 0) end
    return res
  end)
end

-- A to-be-closed value that closes fd, waiting for it.
local function closing(fd, path)
  return setmetatable({}, { __close = function() core.fs_close(fd, path):await() end })
end

local function read_all(fd, path)
  local size = core.fs_fstat(fd, path):await().size
  local chunk = min(max(size + 1, CHUNK), READ_MAX)
  local parts, n = {}, 0
  while true do
    local s = core.fs_read(fd, chunk, -1, path):await()
    if s == "" then break end
    n = n + 1
    parts[n] = s
  end
  return concat(parts, "", 1, n)
end

local function write_all(fd, data, path)
  local done = 0
  while done < #data do
    local part = done == 0 and data or data:sub(done + 1)
    done = done + core.fs_write(fd, part, -1, path):await()
  end
end

--- The whole contents of a file.
--- @param path string
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function fs.read(path, opts)
  check_path(path, "read")
  return run("read", 2, nil, path, opts, function()
    local fd = core.fs_open(path, "r"):await()
    local _ <close> = closing(fd, path)
    return read_all(fd, path)
  end)
end

local function writer(fname, flags)
  return function(path, data, opts)
    check_path(path, fname)
    check_data(data, fname)
    return run(fname, 3, nil, path, opts, function()
      local fd = core.fs_open(path, flags):await()
      local _ <close> = closing(fd, path)
      write_all(fd, data, path)
    end)
  end
end

--- Writes `data` to a file, replacing what it held (created if missing).
--- @type fun(path: string, data: string, opts: table|nil): tide.promise
fs.write = writer("write", "w")
--- Adds `data` at the end of a file (created if missing).
--- @type fun(path: string, data: string, opts: table|nil): tide.promise
fs.append = writer("append", "a")

--- A stream of the lines of a file, without their line ends ("\n" or
--- "\r\n"). The file is opened at the first read and read in chunks, so
--- memory stays bounded whatever its size; it is closed at the end, when
--- the stream is closed, or when a for loop over it is left.
--- @param path string
--- @return tide.stream
function fs.lines(path)
  check_path(path, "lines")
  -- `opening` is the open in flight: if the wait for it fails (the reader
  -- was cancelled, or cannot wait where it is) the file may still open
  -- later, and close() must then close it. The descriptor lives in `file`,
  -- whose finalizer closes it when the stream is dropped unclosed (as
  -- io.lines does): only the stream's functions reach `file`.
  local file = setmetatable({}, { __gc = function(f) if f.fd then core.fs_close_now(f.fd) end end })
  local opening, closed = nil, false
  local function read()
    local fd = file.fd
    local ok, chunk = pcall(function()
      if fd == nil then
        opening = opening or core.fs_open(path, "r")
        local opened = opening:await()
        opening = nil
        if closed then
          -- Closed while it was opening: nobody will read it.
          core.fs_close(opened, path):catch(function() end)
          return nil
        end
        fd = opened
        file.fd = fd
      end
      local more = core.fs_read(fd, CHUNK, -1, path):await()
      return more ~= "" and more or nil
    end)
    if not ok then error(with_path(chunk, path), 0) end
    return chunk
  end
  return stream.lines(read, function()
    closed = true
    if opening then
      opening:next(function(late) core.fs_close(late, path):catch(function() end) end, function() end)
      opening = nil
    end
    if file.fd then
      core.fs_close(file.fd, path):catch(function() end)
      file.fd = nil
    end
  end)
end

-- io.open's modes: "r", "w", "a", "r+", "w+", "a+", each with an optional
-- "b" (which changes nothing here).
local function open_mode(mode)
  if mode == nil then return "r" end
  if type(mode) ~= "string" then
    error(("bad argument #2 to 'open' (string expected, got %s)"):format(type(mode)), 3)
  end
  local base, plus = mode:match("^([rwa])(%+?)b*$")
  if not base then error(("bad argument #2 to 'open' (invalid mode '%s')"):format(mode), 3) end
  return base .. plus
end

--- Opens a file, as io.open does (`mode` "r" by default; "w", "a", "r+",
--- "w+", "a+", each with an optional "b"): a promise of a tide.file, whose
--- calls (read, write, seek, chunks, lines, size, close) return promises.
--- A directory rejects with EISDIR. Close it (or use `<close>`); a file
--- dropped open is closed by the collector.
--- @param path string
--- @param mode string|nil
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function fs.open(path, mode, opts)
  check_path(path, "open")
  local m = open_mode(mode)
  return run("open", 3, nil, path, opts, function()
    local fd = core.fs_open(path, m):await()
    local ok, st = pcall(function() return core.fs_fstat(fd, path):await() end)
    if ok and st.type == "directory" then
      ok, st = false, core.error("fs", path .. ": illegal operation on a directory (open)",
        { code = "EISDIR", path = path, syscall = "open" })
    end
    if not ok then
      core.fs_close(fd, path):catch(function() end)
      error(st, 0)
    end
    return tide_file.new(fd, path, m, st)
  end)
end

--- Facts about a path: `type` ("file", "directory", "link", ...), `size`,
--- `mode`, `mtime`, `atime`, `ctime` (seconds), `uid`, `gid`, `nlink`, `ino`.
--- @param path string
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function fs.stat(path, opts)
  check_path(path, "stat")
  return run("stat", 2, nil, path, opts, function() return core.fs_stat(path):await() end)
end

--- The names in a directory, sorted (without "." and "..").
--- @param path string
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function fs.readdir(path, opts)
  check_path(path, "readdir")
  return run("readdir", 2, nil, path, opts, function()
    local entries = core.fs_scandir(path):await()
    local names = { n = entries.n }
    for i = 1, entries.n do names[i] = entries[i].name end
    sort(names)
    return names
  end)
end

--- Creates a directory; with `{recursive = true}` also its parents, and an
--- existing directory is fine. `mode` defaults to 0755.
--- @param path string
--- @param opts {recursive: boolean, mode: integer, signal: tide.signal}|nil
--- @return tide.promise
function fs.mkdir(path, opts)
  check_path(path, "mkdir")
  return run("mkdir", 2, mkdir_options, path, opts, function()
    local recursive, mode = opts and opts.recursive, opts and opts.mode
    if not recursive then return core.fs_mkdir(path, mode):await() end
    local prefix = path:sub(1, 1) == "/" and "/" or ""
    for part in path:gmatch("[^/]+") do
      prefix = prefix .. part
      local ok, err = core.pawait(core.fs_mkdir(prefix, mode))
      if not ok and not (err.code == "EEXIST" and core.fs_stat(prefix):await().type == "directory") then
        error(err, 0)
      end
      prefix = prefix .. "/"
    end
  end)
end

local function remove(path, recursive)
  local ok, err = core.pawait(core.fs_unlink(path))
  if ok then return end
  if err.code ~= "EISDIR" and err.code ~= "EPERM" then error(err, 0) end
  if recursive then
    local entries = core.fs_scandir(path):await()
    for i = 1, entries.n do remove(path .. "/" .. entries[i].name, true) end
  end
  core.fs_rmdir(path):await()
end

--- Removes a file or an empty directory; with `{recursive = true}` a
--- directory and everything in it.
--- @param path string
--- @param opts {recursive: boolean, signal: tide.signal}|nil
--- @return tide.promise
function fs.remove(path, opts)
  check_path(path, "remove")
  return run("remove", 2, remove_options, path, opts, function() remove(path, opts and opts.recursive) end)
end

--- Renames (moves) a file or directory.
--- @param from string
--- @param to string
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function fs.rename(from, to, opts)
  check_path(from, "rename")
  check_path(to, "rename", 2)
  return run("rename", 3, nil, from, opts, function() return core.fs_rename(from, to):await() end)
end

--- Whether something exists at `path` (a promise of a boolean).
--- @param path string
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise
function fs.exists(path, opts)
  check_path(path, "exists")
  return run("exists", 2, nil, path, opts, function()
    local ok, err = core.pawait(core.fs_stat(path))
    if ok then return true end
    -- Nothing usable there (as os.path.exists sees it); EACCES and the
    -- like are real failures.
    if err.code == "ENOENT" or err.code == "ENOTDIR" or err.code == "ELOOP" then return false end
    error(err, 0)
  end)
end

--- The class of the files tide.fs.open makes (their methods).
fs.File = tide_file.File

return fs
