-- tide.fs.open: files whose every call returns a promise (DESIGN.md, "Files
-- as streams, and pipes").
local helper = require "spec.helper"
local tide = require "tide"

local run, rejection, misuse = helper.run, helper.rejection, helper.misuse

describe("tide.fs.open", function()
  helper.setup()
  local dir
  before_each(function() dir = helper.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function put(name, data)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(data)
    f:close()
    return dir .. "/" .. name
  end

  local function contents(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end

  it("reads up to n bytes at a time, nil at the end", function()
    local path = put("a", "hello world")
    run(function()
      local f <close> = tide.fs.open(path):await()
      assert.equal("hello", f:read(5):await())
      assert.equal(" world", f:read(100):await())
      assert.is_nil(f:read(1):await())
    end)
  end)

  it("writes in the order of the calls, without waiting for each", function()
    local path = dir .. "/w"
    run(function()
      local f <close> = tide.fs.open(path, "w"):await()
      for i = 1, 50 do f:write(("%d,"):format(i)) end
      f:close():await()
    end)
    local want = {}
    for i = 1, 50 do want[i] = i .. "," end
    assert.equal(table.concat(want), contents(path))
  end)

  it("seeks as io does: set, cur and end, returning the position", function()
    local path = put("s", "0123456789")
    run(function()
      local f <close> = tide.fs.open(path, "r+b"):await()
      assert.equal(4, f:seek("set", 4):await())
      assert.equal("45", f:read(2):await())
      assert.equal(6, f:seek():await())
      assert.equal(3, f:seek("cur", -3):await())
      assert.equal(8, f:seek("end", -2):await())
      assert.equal("89", f:read(10):await())
      f:seek("set", 0)
      f:write("ab")
      assert.equal(10, f:size():await())
      local err = rejection(f:seek("set", -1))
      assert.equal("fs", err.kind)
      assert.equal("EINVAL", err.code)
    end)
    assert.equal("ab23456789", contents(path))
  end)

  it("appends at the end in append mode, and reads from the start with a+", function()
    local path = put("ap", "one\n")
    run(function()
      local f <close> = tide.fs.open(path, "a+"):await()
      f:write("two\n"):await()
      assert.equal("tide.file (" .. path .. ", a+, open at 8)", tostring(f))
      assert.equal(0, f:seek("set"):await())
      assert.equal("one\ntwo\n", f:read(100):await())
    end)
  end)

  it("gives chunks and lines as streams, from the position on", function()
    local path = put("l", "first\nsecond\r\nthird")
    run(function()
      local f <close> = tide.fs.open(path):await()
      local parts = f:chunks(4):collect():await()
      assert.same({ "firs", "t\nse", "cond", "\r\nth", "ird", n = 5 }, parts)
      f:seek("set", 6):await()
      local lines = {}
      for line in f:lines() do lines[#lines + 1] = line end
      assert.same({ "second", "third" }, lines)
      -- The streams leave the file open.
      assert.matches("open at", tostring(f))
    end)
  end)

  it("shows its path, mode and state in tostring", function()
    local path = put("t", "abc")
    run(function()
      local f = tide.fs.open(path, "rb"):await()
      assert.equal("tide.file (" .. path .. ", r, open at 0)", tostring(f))
      f:read(2):await()
      assert.equal("tide.file (" .. path .. ", r, open at 2)", tostring(f))
      local closing = f:close()
      assert.equal("tide.file (" .. path .. ", r, closing)", tostring(f))
      closing:await()
      assert.equal("tide.file (" .. path .. ", r, closed)", tostring(f))
    end)
  end)

  it("rejects calls on a closed file with a `closed` error; a second close does nothing", function()
    local path = put("c", "abc")
    run(function()
      local f = tide.fs.open(path):await()
      f:close():await()
      local err = rejection(f:read(1))
      assert.equal("closed", err.kind)
      assert.equal("attempt to use a closed tide.file (" .. path .. ")", err.message)
      assert.equal("closed", rejection(f:write("x")).kind)
      assert.equal("closed", rejection(f:seek("set", 0)).kind)
      assert.equal("closed", rejection(f:size()).kind)
      assert.is_nil(f:close():await())
    end)
  end)

  it("closes on <close>, also when the block fails", function()
    local path = put("cl", "abc")
    local file
    run(function()
      local ok = pcall(function()
        local f <close> = tide.fs.open(path):await()
        file = f
        error("boom")
      end)
      assert.is_false(ok)
    end)
    assert.matches("closed%)$", tostring(file))
  end)

  it("closes a file dropped open when it is collected, starting nothing", function()
    local path = put("gc", "abc")
    local before = helper.open_fds()
    run(function()
      local f = tide.fs.open(path):await()
      f:read(1):await()
      assert.equal(before + 1, helper.open_fds())
    end)
    collectgarbage()
    collectgarbage()
    assert.equal(before, helper.open_fds())
    assert.equal(0, require("tide.core").stats().fs)
  end)

  it("finishes the calls queued on a file dropped without waiting, then closes it when collected", function()
    local path = dir .. "/dropped"
    local before = helper.open_fds()
    run(function()
      local f = tide.fs.open(path, "w"):await()
      for i = 1, 20 do f:write(i .. ";") end
      f = nil -- luacheck: ignore
      -- Once its writes are done nothing holds it: a collection closes it.
      assert.is_true(helper.wait_for(function()
        collectgarbage()
        collectgarbage()
        return helper.open_fds() == before
      end, 5 * helper.SLOW))
    end)
    local want = {}
    for i = 1, 20 do want[i] = i .. ";" end
    assert.equal(table.concat(want), contents(path))
  end)

  it("rejects a directory, a missing file and a file it cannot write", function()
    run(function()
      local err = rejection(tide.fs.open(dir))
      assert.equal("fs", err.kind)
      assert.equal("EISDIR", err.code)
      err = rejection(tide.fs.open(dir, "w"))
      assert.equal("EISDIR", err.code)
      err = rejection(tide.fs.open(dir .. "/missing"))
      assert.equal("ENOENT", err.code)
      assert.equal(dir .. "/missing", err.path)
    end)
  end)

  it("rejects a read of a file opened for writing, and a write of one opened for reading", function()
    local path = put("m", "abc")
    run(function()
      local f <close> = tide.fs.open(path, "a"):await()
      local err = rejection(f:read(1))
      assert.equal("fs", err.kind)
      assert.equal("EBADF", err.code)
      assert.equal(path .. ": file not opened for reading (read)", err.message)
      local r <close> = tide.fs.open(path, "r"):await()
      err = rejection(r:write("x"))
      assert.equal("EBADF", err.code)
      assert.equal(path .. ": file not opened for writing (write)", err.message)
    end)
  end)

  it("rejects a write to /dev/full with kind fs, and a seek on what cannot seek", function()
    run(function()
      local f <close> = tide.fs.open("/dev/full", "w"):await()
      local err = rejection(f:write("x"))
      assert.equal("fs", err.kind)
      assert.equal("ENOSPC", err.code)
      assert.equal("ESPIPE", rejection(f:seek("set", 0)).code)
    end)
  end)

  it("raises for misuse: bad modes, sizes, whences, data", function()
    local path = put("u", "abc")
    assert.equal("bad argument #2 to 'open' (invalid mode 'rw')",
      misuse(function() return tide.fs.open(path, "rw") end))
    assert.equal("bad argument #2 to 'open' (string expected, got number)",
      misuse(function() return tide.fs.open(path, 1) end))
    assert.equal("bad argument #1 to 'open' (string expected, got nil)", misuse(function() return tide.fs.open() end))
    run(function()
      local f <close> = tide.fs.open(path):await()
      assert.equal("bad argument #1 to 'read' (positive integer expected, got -1)",
        misuse(function() return f:read(-1) end))
      assert.equal("bad argument #1 to 'read' (positive integer expected, got 0)",
        misuse(function() return f:read(0) end))
      assert.equal("bad argument #1 to 'read' (positive integer expected, got nil)",
        misuse(function() return f:read() end))
      assert.equal("bad argument #1 to 'chunks' (positive integer expected, got -5)",
        misuse(function() return f:chunks(-5) end))
      assert.equal("bad argument #1 to 'seek' (invalid option 'middle')",
        misuse(function() return f:seek("middle") end))
      assert.equal("bad argument #2 to 'seek' (integer expected, got float)",
        misuse(function() return f:seek("set", 1.5) end))
      assert.equal("bad argument #1 to 'write' (string expected, got table)",
        misuse(function() return f:write({}) end))
      assert.equal("bad argument #1 to 'read' (tide.file expected; call it as file:read(...))",
        misuse(function() return f.read(5) end))
    end)
  end)

  it("serializes concurrent reads: each gets the next bytes, in call order", function()
    local path = put("cr", ("abcdefghij"):rep(10))
    run(function()
      local f <close> = tide.fs.open(path):await()
      local ps = {}
      for i = 1, 10 do ps[i] = f:read(10) end
      local got = tide.all(ps):await()
      for i = 1, 10 do assert.equal("abcdefghij", got[i]) end
      assert.is_nil(f:read(1):await())
    end)
  end)

  it("a cancelled read rejects at once; the file goes on with the next call", function()
    local path = put("cx", "0123456789")
    run(function()
      local f <close> = tide.fs.open(path):await()
      local ctl = tide.abort_controller()
      local p = f:read(4, { signal = ctl.signal })
      local q = f:read(4)
      ctl:abort("stop")
      assert.equal("stop", rejection(p))
      assert.equal("0123", q:await())
      -- A task cancelled while its read is in flight.
      local t = tide.spawn(function() return f:read(2):await() end)
      t:cancel("bye")
      assert.equal("cancelled", rejection(t).kind)
      local rest = f:read(100):await()
      assert.is_true(rest == "456789" or rest == "6789", rest)
    end)
  end)

  it("takes signal= on every call, and on the open", function()
    local path = put("sg", "abc")
    run(function()
      local ctl = tide.abort_controller()
      ctl:abort("no")
      assert.equal("no", rejection(tide.fs.open(path, "r", { signal = ctl.signal })))
      local f <close> = tide.fs.open(path):await()
      assert.equal("no", rejection(f:read(1, { signal = ctl.signal })))
      assert.equal("no", rejection(f:size({ signal = ctl.signal })))
      assert.equal("a", f:read(1):await())
    end)
  end)

  it("copies a file through read and write, in chunks", function()
    local data = {}
    for i = 1, 20000 do data[i] = ("%08d"):format(i) end
    local src = put("big", table.concat(data))
    run(function()
      local from <close> = tide.fs.open(src, "rb"):await()
      local to <close> = tide.fs.open(dir .. "/copy", "wb"):await()
      for chunk in from:chunks(10000) do to:write(chunk) end
    end)
    assert.equal(table.concat(data), contents(dir .. "/copy"))
  end)
end)
