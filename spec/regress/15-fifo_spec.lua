-- Regression of issue 15 (hostile input): a file open blocked in libuv's
-- thread pool (a FIFO with no writer) outlived its cancellation, held the
-- process at exit, and four of them starved every other tide.fs call. Each
-- case runs in a child process with a time limit, since on failure it never
-- exits.
local helper = require "spec.helper"

-- Runs code in a fresh lua5.4 with a FIFO at the path in the global FIFO;
-- returns its output, exit status and how long it took.
local function child(code, limit)
  local dir = helper.tmpdir()
  local script = dir .. "/script.lua"
  local f = assert(io.open(script, "w"))
  f:write(("FIFO = %q\n"):format(dir .. "/fifo"), code)
  f:close()
  assert(os.execute("mkfifo " .. dir .. "/fifo"))
  local cmd = ("cd %q && LUA_PATH=%q LUA_CPATH=%q timeout -s KILL %d lua5.4 %s 2>&1"):format(
    os.getenv("PWD") or ".", package.path, package.cpath, limit or 10 * helper.SLOW, script)
  local t0 = os.time()
  local p = io.popen(cmd)
  local out = p:read("*a")
  local _, _, status = p:close()
  os.execute("rm -rf " .. dir)
  return out, status, os.time() - t0
end

describe("an open blocked on a FIFO", function()
  it("does not hold the exit once it timed out", function()
    local out, status = child([[
      local tide = require "tide"
      tide.run(function()
        local ok, err = tide.pawait(tide.timeout(0.2, tide.fs.read(FIFO)))
        print("read", ok, tide.is_error(err, "timeout"))
      end)
      print("end")
    ]])
    assert.equal(0, status, out)
    assert.matches("read\tfalse\ttrue\nend\n", out, 1, true)
  end)

  it("gives its pool thread back when cancelled, so other fs calls run", function()
    local out, status = child([[
      local tide = require "tide"
      local core = require "tide.core"
      tide.run(function()
        for _ = 1, 20 do tide.pawait(tide.timeout(0.05, tide.fs.read(FIFO))) end
        local ok = tide.pawait(tide.timeout(2, tide.fs.stat("/")))
        print("stat", ok)
        local drained = false
        for _ = 1, 100 do
          if core.stats().fs == 0 then drained = true; break end
          tide.sleep(0.01):await()
        end
        print("drained", drained)
      end)
    ]])
    assert.equal(0, status, out)
    assert.matches("stat\ttrue\ndrained\ttrue\n", out, 1, true)
  end)

  it("is counted in core.stats().fs while it waits", function()
    local out, status = child([[
      local tide = require "tide"
      local core = require "tide.core"
      tide.run(function()
        local t = tide.spawn(function() return tide.fs.read(FIFO):await() end)
        tide.sleep(0.1):await()
        print("pending", core.stats().fs)
        t:cancel()
        tide.pawait(t)
        for _ = 1, 100 do
          if core.stats().fs == 0 then break end
          tide.sleep(0.01):await()
        end
        print("after cancel", core.stats().fs)
      end)
    ]])
    assert.equal(0, status, out)
    assert.matches("pending\t1\nafter cancel\t0\n", out, 1, true)
  end)

  it("does not hold the exit when nothing cancelled it", function()
    local out, status = child([[
      local tide = require "tide"
      -- Five waiting opens: more than libuv's default pool of four.
      for _ = 1, 5 do tide.spawn(function() tide.fs.read(FIFO):await() end) end
      print("stat", tide.pawait(tide.timeout(2, tide.fs.stat("/"))))
      print("end")
    ]])
    assert.equal(0, status, out)
    assert.matches("stat\ttrue\t", out, 1, true)
    assert.matches("end\n", out, 1, true)
  end)
end)
