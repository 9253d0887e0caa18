-- tide.fs: round trips, lines streams (laziness, bounded memory, closing),
-- stat/readdir/mkdir/remove/rename/exists, fs errors (code, errno, path,
-- syscall, tostring), misuse, cancellation (task:cancel, signal=, timeouts),
-- concurrency and top-level await.
local helper = require "spec.helper"
local tide = require "tide"
local lfs = require "lfs"

local fs = tide.fs

local KiB, MiB = 1024, 1024 * 1024

-- The process umask, to predict the modes of what tide creates.
local UMASK = (function()
  local p = io.popen("sh -c umask")
  local s = p:read("*l")
  p:close()
  return tonumber(s, 8)
end)()

local IS_ROOT = (function()
  local p = io.popen("id -u")
  local s = p:read("*l")
  p:close()
  return s == "0"
end)()

-- Files written and read with plain io, independently of tide.fs.
local function spit(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Polls cond() once per loop turn until it is true or `timeout` seconds
-- (default 2) passed; returns whether it became true.
local function wait_for(cond, timeout) return helper.wait_for(cond, timeout or 2, 0) end

-- The descriptor number this process has open on `path`, or nil.
local function fd_of(path)
  for name in lfs.dir("/proc/self/fd") do
    if name ~= "." and name ~= ".." then
      if lfs.symlinkattributes("/proc/self/fd/" .. name, "target") == path then return tonumber(name) end
    end
  end
  return nil
end

-- The file offset of descriptor fd (how far it has been read).
local function fd_pos(fd)
  local f = assert(io.open("/proc/self/fdinfo/" .. fd))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("pos:%s*(%d+)"))
end

-- Where the tide.fs task (or a task pulling a tide.fs stream) waits.
local function fs_where()
  for _, info in ipairs(tide.tasks()) do
    local where = tostring(info.where)
    if where:find("tide/fs%.lua") then return where end
  end
  return nil
end

-- Called right after starting one tide.fs operation on a file: waits until
-- it has moved past its first await (the open), so that the descriptor is
-- in tide's hands and the operation is at its fstat or read.
local function wait_past_open()
  local first = fs_where()
  assert(first, "no tide.fs task is waiting")
  return wait_for(function()
    local where = fs_where()
    return where ~= nil and where ~= first
  end)
end

local function spin(seconds)
  local stop = os.clock() + seconds
  while os.clock() < stop do end
end

-- The outcome of a promise that must reject with an `fs` error.
local function fs_error(p)
  local ok, err = tide.pawait(p)
  assert.is_false(ok, "expected a rejection, got " .. tostring(err))
  assert.is_true(tide.is_error(err, "fs"), "expected an fs error, got " .. tostring(err))
  return err
end

local STRERROR = {
  ENOENT = "no such file or directory",
  EISDIR = "illegal operation on a directory",
  ENOTDIR = "not a directory",
  EEXIST = "file already exists",
  ENOTEMPTY = "directory not empty",
  EACCES = "permission denied",
  ELOOP = "too many symbolic links encountered",
  ENAMETOOLONG = "name too long",
}
local ERRNO = { ENOENT = -2, EISDIR = -21, ENOTDIR = -20, EEXIST = -17, ENOTEMPTY = -39, EACCES = -13,
                ELOOP = -40, ENAMETOOLONG = -36 }

-- Checks every field of an fs error and its tostring.
local function check_error(err, code, path, syscall)
  assert.is_true(tide.is_error(err, "fs"), "expected an fs error, got " .. tostring(err))
  assert.equal("fs", err.kind)
  assert.equal(code, err.code)
  assert.equal(ERRNO[code], err.errno)
  assert.equal(path, err.path)
  assert.equal(syscall, err.syscall)
  local text = ("%s: %s (%s)"):format(path, STRERROR[code], syscall)
  assert.equal(text, err.message)
  assert.equal("fs: " .. text, tostring(err))
end

local misuse = helper.misuse

local function aborted_signal(reason)
  local ctl = tide.abort_controller()
  ctl:abort(reason)
  return ctl.signal
end

-- Every line of a file through a for loop in a task.
local function all_lines(path)
  return helper.run(function()
    local got = {}
    for line in fs.lines(path) do got[#got + 1] = line end
    return got
  end)
end

-- A data string of `n` KiB in which every KiB differs from the others.
local function varied(n)
  local block = {}
  for i = 0, 1019 do block[#block + 1] = string.char((i * 37 + 11) % 256) end
  block = table.concat(block)
  local parts = {}
  for i = 1, n do parts[i] = string.pack(">I4", i) .. block end
  return table.concat(parts)
end

-- A directory made fresh for each test and removed after it.
local dir
local function tmpdir_per_test()
  before_each(function() dir = helper.tmpdir() end)
  after_each(function()
    fs.remove(dir, { recursive = true }):await()
    dir = nil
  end)
end

-- A path tide cannot write to: a read-only file, or for root (who may write
-- to any file) a read-only attribute of sysfs.
local function unwritable_path()
  if IS_ROOT then return "/sys/kernel/uevent_seqnum" end
  local path = dir .. "/readonly"
  spit(path, "x")
  os.execute("chmod 0444 " .. path)
  return path
end

describe("tide.fs.read, write and append", function()
  helper.setup()
  tmpdir_per_test()

  it("return promises and fulfil them", function()
    local path = dir .. "/a"
    local w = fs.write(path, "hello")
    assert.equal("string", type(w:state()))
    w:await()
    local r = fs.read(path)
    assert.equal("string", type(r:state()))
    assert.equal("hello", r:await())
    assert.equal("fulfilled", r:state())
  end)

  it("round-trip an empty file", function()
    local path = dir .. "/empty"
    fs.write(path, ""):await()
    assert.equal("", slurp(path))
    assert.equal(0, fs.stat(path):await().size)
    assert.equal("", fs.read(path):await())
  end)

  it("round-trip binary data with zero bytes", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local data = ("\0" .. table.concat(bytes) .. "\0\0\r\n\0"):rep(100)
    local path = dir .. "/bin"
    fs.write(path, data):await()
    assert.equal(data, slurp(path))
    local back = fs.read(path):await()
    assert.equal(#data, #back)
    assert.is_true(data == back)
  end)

  it("round-trip a 5 MiB file", function()
    local data = varied(5 * 1024)
    assert.equal(5 * MiB, #data)
    local path = dir .. "/big"
    helper.run(function()
      fs.write(path, data):await()
      assert.equal(5 * MiB, fs.stat(path):await().size)
      local back = fs.read(path):await()
      assert.equal(#data, #back)
      assert.is_true(data == back, "5 MiB read back differs")
    end)
    assert.is_true(slurp(path) == data)
  end)

  it("round-trip unicode content under a unicode name", function()
    local path = dir .. "/naïve-日本語-✓.txt"
    local text = "héllo wörld ✓ 🎉\nздравствуй мир\n"
    fs.write(path, text):await()
    assert.equal(text, fs.read(path):await())
    assert.equal(text, slurp(path))
    assert.same({ "naïve-日本語-✓.txt", n = 1 }, fs.readdir(dir):await())
  end)

  it("read a file whose size stat reports as 0 (/proc)", function()
    local status = fs.read("/proc/self/status"):await()
    assert.matches("^Name:", status)
    assert.matches("\nPid:%s+%d+\n", status)
  end)

  it("write creates a missing file with mode 0644 less the umask", function()
    local path = dir .. "/new"
    fs.write(path, "x"):await()
    assert.equal("x", slurp(path))
    assert.equal(tonumber("644", 8) & ~UMASK, fs.stat(path):await().mode)
  end)

  it("write replaces and truncates what the file held", function()
    local path = dir .. "/t"
    spit(path, string.rep("long old content ", 1000))
    fs.write(path, "short"):await()
    assert.equal("short", slurp(path))
    assert.equal(5, fs.stat(path):await().size)
    fs.write(path, ""):await()
    assert.equal("", slurp(path))
  end)

  it("append creates a missing file", function()
    local path = dir .. "/log"
    fs.append(path, "one\n"):await()
    assert.equal("one\n", slurp(path))
  end)

  it("append extends a file", function()
    local path = dir .. "/log"
    fs.write(path, "a"):await()
    fs.append(path, "b"):await()
    fs.append(path, "\0c"):await()
    fs.append(path, ""):await()
    assert.equal("ab\0c", fs.read(path):await())
  end)

  it("concurrent appends each land whole", function()
    local path = dir .. "/log"
    local ops = {}
    for i = 1, 50 do ops[i] = fs.append(path, ("record %03d "):format(i) .. string.rep("z", 88) .. "\n") end
    tide.all(ops):await()
    local text = fs.read(path):await()
    assert.equal(50 * 100, #text)
    local seen = {}
    for rec in text:gmatch("record (%d%d%d) z+\n") do seen[#seen + 1] = tonumber(rec) end
    table.sort(seen)
    local want = {}
    for i = 1, 50 do want[i] = i end
    assert.same(want, seen)
  end)

  it("write then read a large file back, leaving no descriptor open", function()
    local base = helper.open_fds()
    local data = varied(2048)
    local path = dir .. "/big"
    fs.write(path, data):await()
    assert.is_true(fs.read(path):await() == data)
    assert.equal(base, helper.open_fds())
  end)
end)

describe("tide.fs.lines", function()
  helper.setup()
  tmpdir_per_test()

  -- A 16 MiB file of short lines, made once.
  local bigdir, big
  local BIG_HEAD = "first\nsecond\nthird\n"
  local BIG_LINE = string.rep("b", 31)
  local BIG_COUNT = (16 * MiB - #BIG_HEAD) // 32
  setup(function()
    bigdir = helper.tmpdir()
    big = bigdir .. "/big.txt"
    fs.write(big, BIG_HEAD .. string.rep(BIG_LINE .. "\n", BIG_COUNT)):await()
  end)
  teardown(function()
    fs.remove(bigdir, { recursive = true }):await()
  end)

  local function lines_of(content)
    local path = dir .. "/f"
    spit(path, content)
    return all_lines(path)
  end

  it("gives the lines of a file with a final newline", function()
    assert.same({ "a", "bb", "ccc" }, lines_of("a\nbb\nccc\n"))
  end)

  it("gives the last line of a file without a final newline", function()
    assert.same({ "a", "bb", "ccc" }, lines_of("a\nbb\nccc"))
    assert.same({ "only" }, lines_of("only"))
  end)

  it("strips CRLF line ends", function()
    assert.same({ "a", "b", "", "c" }, lines_of("a\r\nb\r\n\r\nc"))
    assert.same({ "a", "b", "c" }, lines_of("a\r\nb\nc\r\n"))
  end)

  it("keeps a CR that does not end a line", function()
    assert.same({ "a\rb", "c\r" }, lines_of("a\rb\nc\r"))
  end)

  it("gives empty lines", function()
    assert.same({ "", "", "", "x", "" }, lines_of("\n\n\nx\n\n"))
    assert.same({ "" }, lines_of("\n"))
    assert.same({ "" }, lines_of("\r\n"))
  end)

  it("gives no lines for an empty file", function()
    local calls = 0
    local path = dir .. "/empty"
    spit(path, "")
    helper.run(function()
      for _ in fs.lines(path) do calls = calls + 1 end
    end)
    assert.equal(0, calls)
    assert.is_nil(fs.lines(path):read():await())
  end)

  it("keeps zero bytes and unicode inside lines", function()
    assert.same({ "a\0b", "日本語 ✓", "\0" }, lines_of("a\0b\n日本語 ✓\n\0"))
  end)

  it("splits lines whose ends straddle read chunks", function()
    for _, at in ipairs { 64 * KiB - 2, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 128 * KiB - 1, 128 * KiB } do
      -- "\r" at byte `at`, "\n" at byte `at + 1`
      local head = string.rep("x", at - 1)
      assert.same({ head, "tail" }, lines_of(head .. "\r\ntail\r\n"), "CRLF at " .. at)
      assert.same({ head, "tail" }, lines_of(head .. "\ntail"), "LF at " .. at)
    end
  end)

  it("gives every line of a file of many lines of varied lengths", function()
    local want, n = {}, 0
    for i = 1, 20000 do
      n = n + 1
      want[n] = ("%d:"):format(i) .. string.rep("v", (i * 7919) % 300)
    end
    local path = dir .. "/many"
    fs.write(path, table.concat(want, "\n") .. "\n"):await()
    local got = all_lines(path)
    assert.equal(#want, #got)
    for i = 1, #want do
      if got[i] ~= want[i] then error(("line %d differs"):format(i)) end
    end
  end)

  it("gives a single very long line whole", function()
    local long = varied(4 * 1024):gsub("[\r\n]", ".")
    local path = dir .. "/long"
    fs.write(path, long .. "\nend"):await()
    local got = all_lines(path)
    assert.equal(2, #got)
    assert.equal(#long, #got[1])
    assert.is_true(got[1] == long)
    assert.equal("end", got[2])
    fs.write(path, long):await()
    got = all_lines(path)
    assert.equal(1, #got)
    assert.is_true(got[1] == long)
  end)

  it("reads a very long line in time linear in its length", function()
    local path = dir .. "/long"
    local function time_line(size)
      fs.write(path, string.rep("y", size) .. "\n"):await()
      local t0 = tide.now()
      local n = 0
      for line in fs.lines(path) do
        assert.equal(size, #line)
        n = n + 1
      end
      assert.equal(1, n)
      return tide.now() - t0
    end
    -- The best of three runs of each: one slow turn on a busy machine must
    -- not decide the ratio.
    local small = math.min(time_line(1 * MiB), time_line(1 * MiB), time_line(1 * MiB))
    local large = math.min(time_line(16 * MiB), time_line(16 * MiB), time_line(16 * MiB))
    -- 16 times the size may take about 16 times as long; quadratic would be 256
    assert.is_true(large < 80 * small + 0.1 * helper.SLOW,
      ("a 1 MiB line took %.3f s, a 16 MiB line %.3f s"):format(small, large))
  end)

  it("is lazy: take(3) of a 16 MiB file returns at once and closes the file", function()
    local base = helper.open_fds()
    local t0 = tide.now()
    local got = fs.lines(big):take(3):collect():await()
    local elapsed = tide.now() - t0
    assert.same({ "first", "second", "third", n = 3 }, got)
    assert.is_true(elapsed < 0.1 * helper.SLOW, ("took %.3f s"):format(elapsed))
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
    assert.is_nil(fd_of(big))
  end)

  it("is lazy: the file is opened at the first read and read only as far as needed", function()
    local s = fs.lines(big)
    tide.sleep(0.001):await()
    assert.is_nil(fd_of(big), "opened before the first read")
    assert.equal("first", s:read():await())
    assert.equal("second", s:read():await())
    assert.equal("third", s:read():await())
    local fd = fd_of(big)
    assert.is_not_nil(fd, "the file is not open")
    local pos = fd_pos(fd)
    assert.is_true(pos > 0 and pos <= 1 * MiB, ("read %d bytes of a 16 MiB file for 3 lines"):format(pos))
    assert.equal(BIG_LINE, s:read():await())
    assert.equal(pos, fd_pos(fd))
    s:close()
    assert.is_true(wait_for(function() return fd_of(big) == nil end), "close() left the file open")
  end)

  it("streams a 64 MiB file in bounded memory", function()
    local path = dir .. "/huge"
    local line = string.rep("m", 63)
    local count = 1024 * 1024
    do
      local data = string.rep(line .. "\n", count)
      fs.write(path, data):await()
    end
    collectgarbage()
    collectgarbage()
    local base = collectgarbage("count")
    local peak, n = 0, 0
    helper.run(function()
      for l in fs.lines(path) do
        n = n + 1
        if l ~= line then error(("line %d differs: %q"):format(n, l)) end
        if n % 65536 == 0 then
          collectgarbage()
          peak = math.max(peak, collectgarbage("count") - base)
        end
      end
    end, 60 * helper.SLOW)
    assert.equal(count, n)
    assert.is_true(peak < 8 * 1024, ("the Lua heap grew by %.0f KiB"):format(peak))
    fs.remove(path):await()
  end)

  it("breaking out of a for loop closes the file (in a task)", function()
    local base = helper.open_fds()
    local inside
    helper.run(function()
      local n = 0
      for _ in fs.lines(big) do
        n = n + 1
        if n == 10 then
          inside = helper.open_fds()
          break
        end
      end
      assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
    end)
    assert.equal(base + 1, inside)
    assert.is_nil(fd_of(big))
  end)

  it("breaking out of a for loop closes the file (at the top level)", function()
    local base = helper.open_fds()
    local n = 0
    for line in fs.lines(big) do
      n = n + 1
      if n == 1 then assert.equal("first", line) end
      if n == 5 then
        assert.equal(big, lfs.symlinkattributes("/proc/self/fd/" .. fd_of(big), "target"))
        break
      end
    end
    assert.equal(5, n)
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("a task that cancels itself inside the loop leaves no file open", function()
    local base = helper.open_fds()
    local t = tide.spawn(function()
      for _ in fs.lines(big) do
        tide.current():cancel()
        tide.sleep(0):await()
      end
    end)
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("a first read where waiting is impossible fails clearly and leaves no file open", function()
    local base = helper.open_fds()
    local lines = fs.lines(big)
    local ok, err
    tide.set_timeout(function() ok, err = pcall(lines.pull, lines) end, 0)
    tide.sleep(0.01):await()
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "usage"), tostring(err))
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
    assert.is_nil(lines:pull()) -- the stream ended with the error
  end)

  it("an error in the loop body closes the file", function()
    local base = helper.open_fds()
    local ok, err = pcall(function()
      for _ in fs.lines(big) do error("boom", 0) end
    end)
    assert.same({ false, "boom" }, { ok, err })
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("a <close> variable closes it", function()
    local base = helper.open_fds()
    do
      local s <close> = fs.lines(big)
      assert.equal("first", s:pull())
      assert.equal(base + 1, helper.open_fds())
    end
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("closes the file at the end and then gives nil", function()
    local path = dir .. "/f"
    spit(path, "x\ny\n")
    local base = helper.open_fds()
    local s = fs.lines(path)
    assert.equal("tide.stream (open)", tostring(s))
    assert.equal("x", s:read():await())
    assert.equal("y", s:read():await())
    assert.is_nil(s:read():await())
    assert.equal("tide.stream (ended)", tostring(s))
    assert.is_nil(s:read():await())
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("closed before the first read never opens the file", function()
    local base = helper.open_fds()
    local s = fs.lines(big)
    s:close()
    assert.is_nil(s:read():await())
    assert.equal(base, helper.open_fds())
  end)

  it("closed while its first read is pending, settles it and closes the file", function()
    local base = helper.open_fds()
    local s = fs.lines(big)
    local p = s:read()
    s:close()
    local ok, v = tide.pawait(p)
    assert.is_true(ok, tostring(v))
    assert.is_true(v == nil or v == "first", tostring(v))
    assert.is_nil(s:read():await())
    tide.run()
    assert.equal(base, helper.open_fds(), "the stream's file stayed open after close()")
  end)

  it("concurrent reads get successive lines and open the file once", function()
    local base = helper.open_fds()
    local s = fs.lines(big)
    local got = tide.all { s:read(), s:read(), s:read() }:await()
    assert.same({ "first", "second", "third", n = 3 }, got)
    assert.equal(base + 1, helper.open_fds())
    s:close()
    tide.run()
    assert.equal(base, helper.open_fds())
  end)

  it("works with map, filter, take, collect and each (whose functions may await)", function()
    local path = dir .. "/f"
    spit(path, "apple\nbanana\ncherry\navocado\nblueberry\napricot\n")
    local got = fs.lines(path)
      :filter(function(l) tide.sleep(0):await(); return l:sub(1, 1) == "a" end)
      :map(function(l) tide.sleep(0):await(); return l:upper() end)
      :take(2)
      :collect():await()
    assert.same({ "APPLE", "AVOCADO", n = 2 }, got)
    local seen = {}
    fs.lines(path):each(function(l) tide.sleep(0):await(); seen[#seen + 1] = #l end):await()
    assert.same({ 5, 6, 6, 7, 9, 7 }, seen)
    assert.same({ "apple", "banana", n = 2 }, fs.lines(path):take(2):collect():await())
  end)

  it("collect and each close the file when a function given to map or each fails", function()
    local base = helper.open_fds()
    local ok, err = tide.pawait(fs.lines(big):map(function(l)
      if l == "third" then error("bad line", 0) end
      return l
    end):collect())
    assert.same({ false, "bad line" }, { ok, err })
    ok, err = tide.pawait(fs.lines(big):each(function(l)
      if l == "second" then error("bad item", 0) end
    end))
    assert.same({ false, "bad item" }, { ok, err })
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("raises an fs error for a missing file (in a for loop, and from read())", function()
    local path = dir .. "/missing"
    local ok, err = pcall(function() for _ in fs.lines(path) do end end)
    assert.is_false(ok)
    check_error(err, "ENOENT", path, "open")
    check_error(fs_error(fs.lines(path):read()), "ENOENT", path, "open")
  end)

  it("raises an fs error naming the path for a directory, and closes it", function()
    local base = helper.open_fds()
    local ok, err = pcall(function() for _ in fs.lines(dir) do end end)
    assert.is_false(ok)
    check_error(err, "EISDIR", dir, "read")
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the directory stayed open")
  end)
end)

describe("tide.fs.stat", function()
  helper.setup()
  tmpdir_per_test()

  it("describes a file", function()
    local path = dir .. "/f"
    fs.write(path, "12345"):await()
    local st = fs.stat(path):await()
    local attr = lfs.attributes(path)
    assert.equal("file", st.type)
    assert.equal(5, st.size)
    assert.equal(tonumber("644", 8) & ~UMASK, st.mode)
    assert.equal(attr.uid, st.uid)
    assert.equal(attr.gid, st.gid)
    assert.equal(attr.ino, st.ino)
    assert.equal(1, st.nlink)
    for _, k in ipairs { "mtime", "atime", "ctime" } do
      assert.equal("number", type(st[k]), k)
      assert.is_true(math.abs(st[k] - os.time()) < 60, k)
    end
    assert.equal(attr.modification, math.floor(st.mtime))
    for _, k in ipairs { "size", "mode", "uid", "gid", "nlink", "ino" } do
      assert.equal("integer", math.type(st[k]), k)
    end
  end)

  it("gives times with their fractions of a second", function()
    local path = dir .. "/f"
    spit(path, "")
    assert.is_true(os.execute(("TZ=UTC touch -d '2001-02-03 04:05:06.5' %q"):format(path)))
    local st = fs.stat(path):await()
    assert.equal(981173106.5, st.mtime)
    assert.equal(981173106.5, st.atime)
  end)

  it("describes a directory", function()
    fs.mkdir(dir .. "/d"):await()
    fs.mkdir(dir .. "/d/sub"):await()
    local st = fs.stat(dir .. "/d"):await()
    assert.equal("directory", st.type)
    assert.equal(tonumber("755", 8) & ~UMASK, st.mode)
    assert.equal(lfs.attributes(dir .. "/d", "nlink"), st.nlink)
    assert.equal(lfs.attributes(dir .. "/d", "ino"), st.ino)
  end)

  it("counts hard links and follows symbolic links", function()
    local path = dir .. "/f"
    spit(path, "abc")
    assert.is_true(lfs.link(path, dir .. "/hard"))
    assert.is_true(lfs.link(path, dir .. "/soft", true))
    local st = fs.stat(path):await()
    assert.equal(2, st.nlink)
    local via = fs.stat(dir .. "/soft"):await()
    assert.equal("file", via.type)
    assert.equal(st.ino, via.ino)
    assert.equal(3, via.size)
  end)

  it("names other kinds of files", function()
    assert.equal("char", fs.stat("/dev/null"):await().type)
    assert.is_true(os.execute(("mkfifo %q"):format(dir .. "/fifo")))
    assert.equal("fifo", fs.stat(dir .. "/fifo"):await().type)
  end)

  it("rejects for a missing path", function()
    local path = dir .. "/missing"
    check_error(fs_error(fs.stat(path)), "ENOENT", path, "stat")
    check_error(fs_error(fs.stat(dir .. "/missing/x")), "ENOENT", dir .. "/missing/x", "stat")
  end)
end)

describe("tide.fs.readdir", function()
  helper.setup()
  tmpdir_per_test()

  it("lists the names sorted, with n, without . and ..", function()
    for _, name in ipairs { "b", "a", "C", "10", "9", "ä", ".hidden" } do spit(dir .. "/" .. name, "") end
    fs.mkdir(dir .. "/sub"):await()
    local names = fs.readdir(dir):await()
    assert.same({ ".hidden", "10", "9", "C", "a", "b", "sub", "ä", n = 8 }, names)
  end)

  it("lists an empty directory as empty", function()
    assert.same({ n = 0 }, fs.readdir(dir):await())
  end)

  it("lists a large directory", function()
    local ops = {}
    for i = 1, 300 do ops[i] = fs.write(("%s/%04d"):format(dir, i), "") end
    tide.all(ops):await()
    local names = fs.readdir(dir):await()
    assert.equal(300, names.n)
    assert.equal(300, #names)
    for i = 1, 300 do assert.equal(("%04d"):format(i), names[i]) end
  end)

  it("rejects for a file and for a missing path", function()
    local path = dir .. "/f"
    spit(path, "")
    check_error(fs_error(fs.readdir(path)), "ENOTDIR", path, "scandir")
    check_error(fs_error(fs.readdir(dir .. "/missing")), "ENOENT", dir .. "/missing", "scandir")
  end)
end)

describe("tide.fs.mkdir", function()
  helper.setup()
  tmpdir_per_test()

  it("creates a directory with mode 0755 less the umask", function()
    fs.mkdir(dir .. "/d"):await()
    local st = fs.stat(dir .. "/d"):await()
    assert.equal("directory", st.type)
    assert.equal(tonumber("755", 8) & ~UMASK, st.mode)
  end)

  it("honours mode", function()
    fs.mkdir(dir .. "/d", { mode = tonumber("700", 8) }):await()
    assert.equal(tonumber("700", 8), fs.stat(dir .. "/d"):await().mode)
  end)

  it("rejects when the path exists, or its parent is missing", function()
    fs.mkdir(dir .. "/d"):await()
    check_error(fs_error(fs.mkdir(dir .. "/d")), "EEXIST", dir .. "/d", "mkdir")
    check_error(fs_error(fs.mkdir(dir .. "/x/y")), "ENOENT", dir .. "/x/y", "mkdir")
    assert.is_false(fs.exists(dir .. "/x"):await())
  end)

  it("with recursive, creates the parents, each with mode", function()
    local path = dir .. "/a/b/c/d/e"
    fs.mkdir(path, { recursive = true, mode = tonumber("750", 8) }):await()
    for _, p in ipairs { "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/b/c/d/e" } do
      local st = fs.stat(dir .. p):await()
      assert.equal("directory", st.type, p)
      assert.equal(tonumber("750", 8) & ~UMASK, st.mode, p)
    end
  end)

  it("with recursive, is fine with existing directories", function()
    fs.mkdir(dir .. "/a/b", { recursive = true }):await()
    spit(dir .. "/a/b/keep", "k")
    fs.mkdir(dir .. "/a/b", { recursive = true }):await()
    fs.mkdir(dir .. "/a/b/c", { recursive = true }):await()
    fs.mkdir(dir, { recursive = true }):await()
    assert.equal("k", slurp(dir .. "/a/b/keep"))
    assert.same({ "c", "keep", n = 2 }, fs.readdir(dir .. "/a/b"):await())
  end)

  it("with recursive, takes double and trailing slashes", function()
    fs.mkdir(dir .. "//x//y/", { recursive = true }):await()
    assert.equal("directory", fs.stat(dir .. "/x/y"):await().type)
  end)

  it("with recursive, takes a relative path", function()
    local cwd = lfs.currentdir()
    assert.is_true(lfs.chdir(dir))
    local ok, err = tide.pawait(fs.mkdir("rel/a/b", { recursive = true }))
    lfs.chdir(cwd)
    assert.is_true(ok, tostring(err))
    assert.equal("directory", fs.stat(dir .. "/rel/a/b"):await().type)
  end)

  it("with recursive, rejects when a file is in the way", function()
    spit(dir .. "/f", "data")
    local err = fs_error(fs.mkdir(dir .. "/f/sub/x", { recursive = true }))
    assert.is_true(err.code == "EEXIST" or err.code == "ENOTDIR", err.code)
    assert.equal("mkdir", err.syscall)
    assert.equal("data", slurp(dir .. "/f"))
    check_error(fs_error(fs.mkdir(dir .. "/f", { recursive = true })), "EEXIST", dir .. "/f", "mkdir")
  end)
end)

describe("tide.fs.remove", function()
  helper.setup()
  tmpdir_per_test()

  it("removes a file", function()
    spit(dir .. "/f", "x")
    fs.remove(dir .. "/f"):await()
    assert.is_nil(lfs.attributes(dir .. "/f"))
  end)

  it("removes an empty directory", function()
    fs.mkdir(dir .. "/d"):await()
    fs.remove(dir .. "/d"):await()
    assert.is_nil(lfs.attributes(dir .. "/d"))
  end)

  it("refuses a non-empty directory without recursive", function()
    fs.mkdir(dir .. "/d"):await()
    spit(dir .. "/d/f", "keep")
    check_error(fs_error(fs.remove(dir .. "/d")), "ENOTEMPTY", dir .. "/d", "rmdir")
    assert.equal("keep", slurp(dir .. "/d/f"))
  end)

  it("removes a tree with recursive", function()
    fs.mkdir(dir .. "/t/a/b/c", { recursive = true }):await()
    fs.mkdir(dir .. "/t/empty"):await()
    for _, p in ipairs { "/t/f", "/t/a/f", "/t/a/b/f", "/t/a/b/c/f", "/t/a/b/c/g" } do spit(dir .. p, p) end
    fs.remove(dir .. "/t", { recursive = true }):await()
    assert.is_nil(lfs.attributes(dir .. "/t"))
    assert.same({ n = 0 }, fs.readdir(dir):await())
  end)

  it("with recursive, removes a symbolic link to a directory but not what it points to", function()
    fs.mkdir(dir .. "/outside"):await()
    spit(dir .. "/outside/precious", "p")
    fs.mkdir(dir .. "/t"):await()
    assert.is_true(lfs.link(dir .. "/outside", dir .. "/t/link", true))
    fs.remove(dir .. "/t", { recursive = true }):await()
    assert.is_nil(lfs.attributes(dir .. "/t"))
    assert.equal("p", slurp(dir .. "/outside/precious"))
  end)

  it("with recursive, removes a plain file too", function()
    spit(dir .. "/f", "x")
    fs.remove(dir .. "/f", { recursive = true }):await()
    assert.is_nil(lfs.attributes(dir .. "/f"))
  end)

  it("rejects for a missing path", function()
    check_error(fs_error(fs.remove(dir .. "/missing")), "ENOENT", dir .. "/missing", "unlink")
    check_error(fs_error(fs.remove(dir .. "/missing", { recursive = true })), "ENOENT", dir .. "/missing", "unlink")
  end)
end)

describe("tide.fs.rename", function()
  helper.setup()
  tmpdir_per_test()

  it("renames a file", function()
    spit(dir .. "/a", "content")
    fs.rename(dir .. "/a", dir .. "/b"):await()
    assert.is_nil(lfs.attributes(dir .. "/a"))
    assert.equal("content", slurp(dir .. "/b"))
  end)

  it("moves a directory with what it holds", function()
    fs.mkdir(dir .. "/d/sub", { recursive = true }):await()
    spit(dir .. "/d/sub/f", "x")
    fs.mkdir(dir .. "/elsewhere"):await()
    fs.rename(dir .. "/d", dir .. "/elsewhere/d2"):await()
    assert.equal("x", slurp(dir .. "/elsewhere/d2/sub/f"))
    assert.same({ "elsewhere", n = 1 }, fs.readdir(dir):await())
  end)

  it("replaces an existing file", function()
    spit(dir .. "/a", "new")
    spit(dir .. "/b", "old")
    fs.rename(dir .. "/a", dir .. "/b"):await()
    assert.equal("new", slurp(dir .. "/b"))
    assert.same({ "b", n = 1 }, fs.readdir(dir):await())
  end)

  it("rejects naming the source", function()
    check_error(fs_error(fs.rename(dir .. "/missing", dir .. "/b")), "ENOENT", dir .. "/missing", "rename")
    spit(dir .. "/a", "x")
    check_error(fs_error(fs.rename(dir .. "/a", dir .. "/no/such/dir")), "ENOENT", dir .. "/a", "rename")
    fs.mkdir(dir .. "/d1"):await()
    fs.mkdir(dir .. "/d2"):await()
    spit(dir .. "/d2/f", "")
    check_error(fs_error(fs.rename(dir .. "/d1", dir .. "/d2")), "ENOTEMPTY", dir .. "/d1", "rename")
  end)
end)

describe("tide.fs.exists", function()
  helper.setup()
  tmpdir_per_test()

  it("is true for a file and a directory", function()
    spit(dir .. "/f", "")
    local p = fs.exists(dir .. "/f")
    assert.equal("string", type(p:state()))
    assert.is_true(p:await())
    assert.is_true(fs.exists(dir):await())
  end)

  it("is false for a missing path, and one under a file (ENOTDIR)", function()
    spit(dir .. "/f", "")
    assert.is_false(fs.exists(dir .. "/missing"):await())
    assert.is_false(fs.exists(dir .. "/missing/deeper"):await())
    assert.is_false(fs.exists(dir .. "/f/x"):await())
  end)

  it("follows symbolic links", function()
    spit(dir .. "/f", "")
    assert.is_true(lfs.link(dir .. "/f", dir .. "/good", true))
    assert.is_true(lfs.link(dir .. "/nothing", dir .. "/dangling", true))
    assert.is_true(fs.exists(dir .. "/good"):await())
    assert.is_false(fs.exists(dir .. "/dangling"):await())
  end)

  it("rejects for other errors", function()
    local path = dir .. "/" .. string.rep("n", 300)
    check_error(fs_error(fs.exists(path)), "ENAMETOOLONG", path, "stat")
  end)
end)

describe("tide.fs errors", function()
  helper.setup()
  tmpdir_per_test()

  it("ENOENT: reading a missing file", function()
    local err = fs_error(fs.read("/x/missing"))
    check_error(err, "ENOENT", "/x/missing", "open")
    assert.equal("fs: /x/missing: no such file or directory (open)", tostring(err))
  end)

  it("EISDIR: reading or writing a directory", function()
    check_error(fs_error(fs.read(dir)), "EISDIR", dir, "read")
    check_error(fs_error(fs.write(dir, "x")), "EISDIR", dir, "open")
    check_error(fs_error(fs.append(dir, "x")), "EISDIR", dir, "open")
  end)

  it("ENOTDIR: a path through a file", function()
    spit(dir .. "/f", "")
    check_error(fs_error(fs.read(dir .. "/f/x")), "ENOTDIR", dir .. "/f/x", "open")
    check_error(fs_error(fs.write(dir .. "/f/x", "")), "ENOTDIR", dir .. "/f/x", "open")
    check_error(fs_error(fs.mkdir(dir .. "/f/x")), "ENOTDIR", dir .. "/f/x", "mkdir")
  end)

  it("ENOENT: writing into a missing directory", function()
    check_error(fs_error(fs.write(dir .. "/no/f", "")), "ENOENT", dir .. "/no/f", "open")
    check_error(fs_error(fs.append(dir .. "/no/f", "")), "ENOENT", dir .. "/no/f", "open")
  end)

  it("EEXIST and ENOTEMPTY", function()
    check_error(fs_error(fs.mkdir(dir)), "EEXIST", dir, "mkdir")
    spit(dir .. "/f", "")
    check_error(fs_error(fs.remove(dir)), "ENOTEMPTY", dir, "rmdir")
  end)

  it("EACCES: writing where it is not allowed", function()
    local path = unwritable_path()
    local before = slurp(path)
    check_error(fs_error(fs.write(path, "x")), "EACCES", path, "open")
    check_error(fs_error(fs.append(path, "x")), "EACCES", path, "open")
    assert.equal(before, slurp(path))
  end)

  it("ELOOP and ENAMETOOLONG", function()
    assert.is_true(lfs.link(dir .. "/l2", dir .. "/l1", true))
    assert.is_true(lfs.link(dir .. "/l1", dir .. "/l2", true))
    check_error(fs_error(fs.read(dir .. "/l1")), "ELOOP", dir .. "/l1", "open")
    local long = dir .. "/" .. string.rep("n", 300)
    check_error(fs_error(fs.read(long)), "ENAMETOOLONG", long, "open")
  end)

  it("are tide errors with the fs kind", function()
    local err = fs_error(fs.stat(dir .. "/missing"))
    assert.is_true(tide.is_error(err))
    assert.is_false(tide.is_error(err, "timeout"))
    assert.equal("integer", math.type(err.errno))
  end)
end)

describe("tide.fs misuse", function()
  helper.setup()

  it("raises at once for a path that is not a string", function()
    assert.equal("bad argument #1 to 'read' (string expected, got number)", misuse(function() return fs.read(1) end))
    assert.equal("bad argument #1 to 'read' (string expected, got nil)", misuse(function() return fs.read() end))
    assert.equal("bad argument #1 to 'write' (string expected, got nil)",
      misuse(function() return fs.write(nil, "x") end))
    assert.equal("bad argument #1 to 'append' (string expected, got table)",
      misuse(function() return fs.append({}, "x") end))
    assert.equal("bad argument #1 to 'lines' (string expected, got number)", misuse(function() return fs.lines(5) end))
    assert.equal("bad argument #1 to 'stat' (string expected, got boolean)",
      misuse(function() return fs.stat(true) end))
    assert.equal("bad argument #1 to 'readdir' (string expected, got function)",
      misuse(function() return fs.readdir(print) end))
    assert.equal("bad argument #1 to 'mkdir' (string expected, got number)", misuse(function() return fs.mkdir(1) end))
    assert.equal("bad argument #1 to 'remove' (string expected, got nil)", misuse(function() return fs.remove() end))
    assert.equal("bad argument #1 to 'rename' (string expected, got number)",
      misuse(function() return fs.rename(1, "/tmp/x") end))
    assert.equal("bad argument #2 to 'rename' (string expected, got nil)",
      misuse(function() return fs.rename("/tmp/x") end))
    assert.equal("bad argument #1 to 'exists' (string expected, got number)",
      misuse(function() return fs.exists(1) end))
  end)

  it("raises at once for data that is not a string", function()
    assert.equal("bad argument #2 to 'write' (string expected, got number)",
      misuse(function() return fs.write("/tmp/x", 1) end))
    assert.equal("bad argument #2 to 'write' (string expected, got nil)",
      misuse(function() return fs.write("/tmp/x") end))
    assert.equal("bad argument #2 to 'append' (string expected, got table)",
      misuse(function() return fs.append("/tmp/x", {}) end))
  end)

  it("raises at once for bad options", function()
    assert.equal("bad argument #2 to 'read' (options table expected, got number)",
      misuse(function() return fs.read("/x", 5) end))
    assert.equal("bad argument #3 to 'write' (options table expected, got string)",
      misuse(function() return fs.write("/x", "", "o") end))
    assert.equal("bad option 'signal' to 'stat' (tide.signal expected, got table)",
      misuse(function() return fs.stat("/x", { signal = {} }) end))
    assert.equal("bad option 'signal' to 'exists' (tide.signal expected, got string)",
      misuse(function() return fs.exists("/x", { signal = "s" }) end))
    assert.equal("bad argument #2 to 'mkdir' (options table expected, got number)",
      misuse(function() return fs.mkdir("/x", 5) end))
    assert.equal("bad argument #2 to 'remove' (options table expected, got boolean)",
      misuse(function() return fs.remove("/x", true) end))
  end)

  it("raises at once for a path with a zero byte", function()
    local bad = "/tmp/a\0b"
    assert.equal("bad argument #1 to 'read' (path contains a zero byte)", misuse(function() return fs.read(bad) end))
    assert.equal("bad argument #1 to 'write' (path contains a zero byte)",
      misuse(function() return fs.write(bad, "") end))
    assert.equal("bad argument #1 to 'append' (path contains a zero byte)",
      misuse(function() return fs.append(bad, "") end))
    assert.equal("bad argument #1 to 'lines' (path contains a zero byte)", misuse(function() return fs.lines(bad) end))
    assert.equal("bad argument #1 to 'stat' (path contains a zero byte)", misuse(function() return fs.stat(bad) end))
    assert.equal("bad argument #1 to 'readdir' (path contains a zero byte)",
      misuse(function() return fs.readdir(bad) end))
    assert.equal("bad argument #1 to 'mkdir' (path contains a zero byte)", misuse(function() return fs.mkdir(bad) end))
    assert.equal("bad argument #1 to 'remove' (path contains a zero byte)",
      misuse(function() return fs.remove(bad) end))
    assert.equal("bad argument #1 to 'rename' (path contains a zero byte)",
      misuse(function() return fs.rename(bad, "/tmp/x") end))
    assert.equal("bad argument #2 to 'rename' (path contains a zero byte)",
      misuse(function() return fs.rename("/tmp/x", bad) end))
    assert.equal("bad argument #1 to 'exists' (path contains a zero byte)",
      misuse(function() return fs.exists(bad) end))
  end)
end)

describe("tide.fs cancellation", function()
  helper.setup()
  tmpdir_per_test()

  local bigdir, big, BIG_SIZE = nil, nil, 16 * MiB
  setup(function()
    bigdir = helper.tmpdir()
    big = bigdir .. "/big.txt"
    fs.write(big, string.rep(string.rep("c", 63) .. "\n", BIG_SIZE // 64)):await()
  end)
  teardown(function()
    fs.remove(bigdir, { recursive = true }):await()
  end)

  it("task:cancel() in the middle of fs.read of a large file rejects and closes the file", function()
    local base = helper.open_fds()
    local inner
    local t = tide.spawn(function()
      inner = fs.read(big)
      return inner:await()
    end)
    assert.is_true(wait_past_open(), "the read never got past its open")
    assert.is_not_nil(fd_of(big))
    assert.equal("pending", inner:state())
    assert.is_true(t:cancel())
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
    -- the read itself was cancelled, not left running
    local ok2, err2 = tide.pawait(inner)
    assert.is_false(ok2)
    assert.is_true(tide.is_error(err2, "cancelled"), tostring(err2))
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("a read cancelled at any loop turn fulfils whole or rejects, and closes the file", function()
    local base = helper.open_fds()
    local want = string.rep(string.rep("c", 63) .. "\n", BIG_SIZE // 64)
    local outcomes = {}
    for turns = 0, 12 do
      local t = tide.spawn(function() return fs.read(big):await() end)
      for _ = 1, turns do tide.sleep(0):await() end
      t:cancel()
      local ok, v = tide.pawait(t)
      if ok then
        assert.is_true(v == want, "a read that finished gave wrong data")
        outcomes[#outcomes + 1] = "ok"
      else
        assert.is_true(tide.is_error(v, "cancelled"), tostring(v))
        outcomes[#outcomes + 1] = "cancelled"
      end
      tide.run()
      assert.equal(base, helper.open_fds(), "descriptor left open after cancelling at turn " .. turns)
    end
    assert.equal("cancelled", outcomes[1])
  end)

  it("cancelling while the open finishes on the thread pool leaks no descriptor", function()
    local path = dir .. "/small"
    spit(path, "small")
    local base = helper.open_fds()
    for _, delay in ipairs { 0, 0.0005, 0.002, 0.01, 0.02 } do
      for _ = 1, 4 do
        local t = tide.spawn(function() return fs.read(path):await() end)
        spin(delay) -- the open runs on the thread pool meanwhile
        t:cancel()
        local ok, err = tide.pawait(t)
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
      end
    end
    tide.run()
    assert.equal(base, helper.open_fds(), "descriptors opened by cancelled reads stayed open")
  end)

  it("cancelling a task iterating lines closes the file", function()
    local base = helper.open_fds()
    local n = 0
    local t = tide.spawn(function()
      for _ in fs.lines(big) do n = n + 1 end
    end)
    assert.is_true(wait_for(function() return n > 1000 end))
    t:cancel("stop")
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
    assert.equal("stop", err.reason)
    assert.is_true(n < BIG_SIZE // 64)
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("an already aborted signal rejects every function at once with its reason", function()
    local reason = { why = "already" }
    local sig = aborted_signal(reason)
    spit(dir .. "/f", "x")
    local calls = {
      read = function() return fs.read(dir .. "/f", { signal = sig }) end,
      write = function() return fs.write(dir .. "/w", "x", { signal = sig }) end,
      append = function() return fs.append(dir .. "/w", "x", { signal = sig }) end,
      stat = function() return fs.stat(dir, { signal = sig }) end,
      readdir = function() return fs.readdir(dir, { signal = sig }) end,
      mkdir = function() return fs.mkdir(dir .. "/m", { signal = sig }) end,
      remove = function() return fs.remove(dir .. "/f", { signal = sig }) end,
      rename = function() return fs.rename(dir .. "/f", dir .. "/g", { signal = sig }) end,
      exists = function() return fs.exists(dir, { signal = sig }) end,
      collect = function() return fs.lines(dir .. "/f"):collect({ signal = sig }) end,
    }
    for name, call in pairs(calls) do
      local p = call()
      assert.equal("rejected", p:state(), name)
      local ok, err = tide.pawait(p)
      assert.is_false(ok, name)
      assert.equal(reason, err, name)
    end
  end)

  it("an already aborted signal stops the operation from taking place", function()
    local sig = aborted_signal("no")
    local base = helper.open_fds()
    local done = {}
    for i = 1, 20 do
      spit(dir .. "/victim", "keep")
      tide.pawait(fs.write(dir .. "/w" .. i, "x", { signal = sig }))
      tide.pawait(fs.append(dir .. "/victim", "more", { signal = sig }))
      tide.pawait(fs.mkdir(dir .. "/m" .. i, { signal = sig }))
      tide.pawait(fs.remove(dir .. "/victim", { signal = sig }))
      tide.run()
      if lfs.attributes(dir .. "/w" .. i) then done.write = (done.write or 0) + 1 end
      if lfs.attributes(dir .. "/m" .. i) then done.mkdir = (done.mkdir or 0) + 1 end
      local v = lfs.attributes(dir .. "/victim") and slurp(dir .. "/victim")
      if v == nil then done.remove = (done.remove or 0) + 1 end
      if v and v ~= "keep" then done.append = (done.append or 0) + 1 end
    end
    local fds = helper.open_fds() - base
    local msg = {}
    for k, v in pairs(done) do msg[#msg + 1] = ("%s %d/20"):format(k, v) end
    table.sort(msg)
    assert.same({}, msg, "aborted operations that still happened: " .. table.concat(msg, ", "))
    assert.equal(0, fds, "descriptors leaked by aborted writes")
  end)

  it("aborting in the middle of a read rejects with exactly the reason and closes the file", function()
    local base = helper.open_fds()
    local ctl = tide.abort_controller()
    local reason = setmetatable({}, { __tostring = function() return "my reason" end })
    local p = fs.read(big, { signal = ctl.signal })
    assert.is_true(wait_past_open(), "the operation never got past its open")
    assert.equal("pending", p:state())
    ctl:abort(reason)
    assert.equal("rejected", p:state())
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.equal(reason, err)
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("aborting without a reason rejects with a cancelled error", function()
    local ctl = tide.abort_controller()
    local p = fs.read(big, { signal = ctl.signal })
    assert.is_true(wait_past_open(), "the operation never got past its open")
    ctl:abort()
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
    assert.equal(ctl.signal.reason, err)
  end)

  it("aborting a collect over lines closes the file", function()
    local base = helper.open_fds()
    local ctl = tide.abort_controller()
    local p = fs.lines(big):collect { signal = ctl.signal }
    assert.is_true(wait_past_open(), "the operation never got past its open")
    ctl:abort("enough")
    assert.same({ false, "enough" }, { tide.pawait(p) })
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("aborting after the operation finished changes nothing", function()
    local ctl = tide.abort_controller()
    spit(dir .. "/f", "done")
    local p = fs.read(dir .. "/f", { signal = ctl.signal })
    assert.equal("done", p:await())
    assert.is_true(ctl:abort("late"))
    assert.equal("fulfilled", p:state())
    assert.equal("done", p:await())
  end)

  it("works under tide.timeout with a function that has time enough", function()
    spit(dir .. "/f", "in time")
    local v = tide.timeout(5, function() return fs.read(dir .. "/f"):await() end):await()
    assert.equal("in time", v)
  end)

  it("tide.timeout stops a function iterating lines, and the file is closed", function()
    local base = helper.open_fds()
    local n = 0
    local ok, err = tide.pawait(tide.timeout(0.02, function()
      for _ in fs.lines(big) do n = n + 1 end
      return n
    end))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"), tostring(err))
    assert.equal("timeout: timed out after 0.02 s", tostring(err))
    assert.is_true(n < BIG_SIZE // 64)
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("tide.timeout around an fs promise rejects and cancels it", function()
    local base = helper.open_fds()
    local p = fs.read(big)
    assert.is_true(wait_past_open(), "the operation never got past its open")
    local ok, err = tide.pawait(tide.timeout(0, p))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"), tostring(err))
    local ok2, err2 = tide.pawait(p)
    assert.is_false(ok2)
    assert.is_true(tide.is_error(err2, "cancelled"), tostring(err2))
    assert.is_true(wait_for(function() return helper.open_fds() == base end), "the file stayed open")
  end)

  it("a timeout_signal rejects an fs operation with a timeout error", function()
    local ok, err = tide.pawait(fs.lines(big):collect { signal = tide.timeout_signal(0.01) })
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"), tostring(err))
  end)
end)

describe("tide.fs concurrency and top-level await", function()
  helper.setup()
  tmpdir_per_test()

  it("tide.map over 200 files with concurrency 16", function()
    local paths = {}
    for i = 1, 200 do paths[i] = ("%s/f%03d"):format(dir, i) end
    local inflight, peak = 0, 0
    local results = tide.map(paths, function(path, i)
      inflight = inflight + 1
      peak = math.max(peak, inflight)
      fs.write(path, ("file %d\n"):format(i):rep(i)):await()
      fs.append(path, "end\n"):await()
      assert.equal("file", fs.stat(path):await().type)
      local text = fs.read(path):await()
      inflight = inflight - 1
      return text
    end, { concurrency = 16 }):await()
    assert.equal(16, peak)
    assert.equal(200, results.n)
    for i = 1, 200 do
      assert.equal(("file %d\n"):format(i):rep(i) .. "end\n", results[i])
    end
    assert.equal(200, fs.readdir(dir):await().n)
  end)

  it("200 reads at once", function()
    local ops = {}
    for i = 1, 200 do spit(("%s/f%03d"):format(dir, i), tostring(i)) end
    for i = 1, 200 do ops[i] = fs.read(("%s/f%03d"):format(dir, i)) end
    local got = tide.all(ops):await()
    assert.equal(200, got.n)
    for i = 1, 200 do assert.equal(tostring(i), got[i]) end
  end)

  it("a failing item in tide.map rejects it with the fs error and leaks nothing", function()
    local paths = {}
    for i = 1, 40 do
      paths[i] = ("%s/f%02d"):format(dir, i)
      if i ~= 17 then spit(paths[i], string.rep("d", 100 * KiB)) end
    end
    local ok, err = tide.pawait(tide.map(paths, function(path) return fs.read(path):await() end, { concurrency = 8 }))
    assert.is_false(ok)
    check_error(err, "ENOENT", paths[17], "open")
  end)

  it("every function works by top-level await, outside any task", function()
    assert.is_nil(tide.current())
    local d = dir .. "/top/level"
    fs.mkdir(d, { recursive = true }):await()
    fs.write(d .. "/a", "one\ntwo\n"):await()
    fs.append(d .. "/a", "three"):await()
    assert.equal("one\ntwo\nthree", fs.read(d .. "/a"):await())
    assert.equal(13, fs.stat(d .. "/a"):await().size)
    assert.same({ "a", n = 1 }, fs.readdir(d):await())
    fs.rename(d .. "/a", d .. "/b"):await()
    assert.is_false(fs.exists(d .. "/a"):await())
    assert.is_true(fs.exists(d .. "/b"):await())
    local got = {}
    for line in fs.lines(d .. "/b") do got[#got + 1] = line end
    assert.same({ "one", "two", "three" }, got)
    assert.same({ "one", "two", "three", n = 3 }, fs.lines(d .. "/b"):collect():await())
    fs.remove(dir .. "/top", { recursive = true }):await()
    assert.same({ n = 0 }, fs.readdir(dir):await())
    local ok, err = tide.pawait(fs.read(d .. "/b"))
    assert.is_false(ok)
    check_error(err, "ENOENT", d .. "/b", "open")
  end)

  it("fs promises compose with tide.all and tide.race", function()
    spit(dir .. "/a", "A")
    spit(dir .. "/b", "B")
    local both = tide.all { fs.read(dir .. "/a"), fs.read(dir .. "/b"), fs.exists(dir .. "/c") }:await()
    assert.same({ "A", "B", false, n = 3 }, both)
    local ctl = tide.abort_controller()
    local slow = tide.sleep(5, { signal = ctl.signal })
    assert.equal("A", tide.race { fs.read(dir .. "/a"), slow }:await())
    ctl:abort("done")
    assert.same({ false, "done" }, { tide.pawait(slow) })
  end)
end)
