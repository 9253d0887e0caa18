-- Issue 10, "Diagnostics people ask for": a hang gave no way to see where.
-- tide.dump() and tide.handles() list every live task (status, what it
-- awaits, where it waits) and every pending operation and timer with the
-- file:line that started it; tide.debug{slow=, origins=} (and TIDE_DEBUG=1)
-- reports task steps and callbacks that hold the loop, and makes every
-- promise remember where it was made, which deadlock and unhandled-rejection
-- reports then name.
local helper = require "spec.helper"
local tide = require "tide"
local core = require "tide.core"
local servers = require "spec.support.servers"

local http = tide.http

local function run(fn) return helper.run(fn, 10 * helper.SLOW) end
local function line() return debug.getinfo(2, "l").currentline end
local SPEC = "10%-diagnostics_spec.lua:"

-- What tide.dump writes, as a string.
local function dumped()
  local f = io.tmpfile()
  tide.dump(f)
  f:seek("set")
  local out = f:read("a")
  f:close()
  return out
end

describe("issue 10: diagnostics", function()
  local flt
  lazy_setup(function() flt = servers.faults() end)
  lazy_teardown(function() servers.stop_all() end)
  helper.setup()

  it("tide.dump names a never-settling promise, a silent server and a forgotten timer", function()
    run(function()
      local never = tide.deferred()
      local stuck = tide.spawn(function() never:await() end) local l_stuck = line()
      local req = http.get(flt.url .. "/never?key=" .. helper.key("dump")) local l_req = line()
      local timer = tide.set_timeout(function() end, 60) local l_timer = line()
      tide.sleep(0.05):await()
      local out = dumped()
      assert.matches("^tide.dump: %d+ live task%(s%), %d+ pending operation%(s%) and timer%(s%)\n", out)
      assert.matches("task tide.task %(waiting%) at [^\n]*" .. SPEC .. l_stuck ..
        " awaiting tide.promise %(pending%)", out)
      assert.matches("http tide.promise %(pending%) GET http://[^\n]*/never%?key=[^\n]* started at [^\n]*" ..
        SPEC .. l_req, out)
      assert.matches("timer tide.timer %(pending%) due in [%d.]+ s started at [^\n]*" .. SPEC .. l_timer, out)
      -- The same, as a list.
      local kinds, stuck_entry = {}, nil
      for _, h in ipairs(tide.handles()) do
        if h.promise == req or h.timer == timer then kinds[h.kind] = h end
        if h.task == stuck then stuck_entry = h end
      end
      assert.equal("waiting", stuck_entry.status)
      assert.equal(never, stuck_entry.awaiting)
      assert.matches(SPEC .. l_stuck .. "$", stuck_entry.where)
      assert.equal(req, kinds.http.promise)
      assert.matches(SPEC .. l_req .. "$", kinds.http.started)
      assert.equal(timer, kinds.timer.timer)
      assert.is_true(kinds.timer.due_in > 50)
      stuck:cancel()
      req:cancel()
      timer:cancel()
    end)
  end)

  it("an HTTP transfer's entry has its method and URL, without credentials or signatures", function()
    run(function()
      local key = helper.key("dump")
      local url = flt.url:gsub("^http://", "http://user:s3cret@") .. "/never?key=" .. key ..
        "&X-Amz-Signature=sig0123&X-Amz-Credential=AKIDX%2F20260101&x-amz-security-token=tok456" ..
        "&X%2DAmz-Signature=sig789&plain=1"
      local req = http.post(url, { body = "x" })
      local entry
      for _, h in ipairs(tide.handles()) do if h.promise == req then entry = h end end
      assert.equal("http", entry.kind)
      assert.equal("POST", entry.method)
      assert.equal(flt.url .. "/never?key=" .. key .. "&X-Amz-Signature=REDACTED" ..
        "&X-Amz-Credential=REDACTED&x-amz-security-token=REDACTED&X%2dAmz-Signature=REDACTED&plain=1",
        entry.url)
      local out = dumped()
      assert.matches("http tide.promise (pending) POST " .. entry.url, out, 1, true)
      for _, secret in ipairs { "user", "s3cret", "sig0123", "AKIDX", "tok456", "sig789" } do
        assert.is_nil(out:find(secret, 1, true), secret)
      end
      req:cancel()
    end)
  end)

  it("a file operation's entry has its call and path (a descriptor's too)", function()
    local dir = helper.tmpdir()
    local fifo = dir .. "/fifo"
    assert.is_true(os.execute(("mkfifo %q"):format(fifo)))
    assert(io.open(dir .. "/a", "w")):close()
    run(function()
      local st = tide.fs.stat(dir)
      local mv = tide.fs.rename(dir .. "/a", dir .. "/b")
      local calls = {}
      for _, h in ipairs(tide.handles()) do
        if h.kind == "fs" then calls[h.call] = h end
      end
      assert.equal(dir, calls.stat.path)
      assert.equal(dir .. "/a", calls.rename.path)
      assert.equal(dir .. "/b", calls.rename.to)
      st:await()
      mv:await()
      -- A read that waits in libuv's pool for the FIFO's writer.
      local f <close> = tide.fs.open(fifo, "r+"):await()
      local rd = f:read(10)
      local entry
      for _ = 1, 100 do
        for _, h in ipairs(tide.handles()) do if h.kind == "fs" and h.call == "read" then entry = h end end
        if entry then break end
        tide.sleep(0.01):await()
      end
      assert.equal(fifo, entry.path)
      assert.matches("fs tide.promise (pending) read " .. fifo, dumped(), 1, true)
      local w = assert(io.open(fifo, "w"))
      w:write("x")
      w:close()
      assert.equal("x", rd:await())
    end)
    os.execute(("rm -rf %q"):format(dir))
  end)

  it("tide.dump writes to stderr by default and refuses what is not a file", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      local t = tide.set_timeout(function() end, 60)
      tide.dump()
      t:cancel()
    ]])
    assert.equal(0, status, out)
    assert.matches("timer tide.timer %(pending%) due in [%d.]+ s started at [^\n]*script.lua:2", out)
    assert.has_error(function() tide.dump("stderr") end, "bad argument #1 to 'dump' (file expected, got string)")
  end)

  it("sleeps show when they are due; with origins they show where they started", function()
    run(function()
      local prev = tide.debug { origins = true }
      local p = tide.sleep(30) local l_sleep = line()
      local entry
      for _, h in ipairs(tide.handles()) do if h.promise == p then entry = h end end
      tide.debug(prev)
      assert.equal("sleep", entry.kind)
      assert.is_true(entry.due_in > 25 and entry.due_in <= 30.01)
      assert.matches(SPEC .. l_sleep .. "$", entry.started)
      assert.equal(tide.current(), entry.owner)
      p:cancel()
    end)
  end)

  it("tide.debug{slow=} reports a task step and a callback that hold the loop", function()
    run(function()
      local reports = {}
      local prev = tide.debug { slow = 0.02, on_slow = function(info) reports[#reports + 1] = info end }
      local function hog() local t = tide.now() repeat until tide.now() - t > 0.05 end
      tide.spawn(function() hog(); tide.sleep(0):await() end):await()
      -- (Awaited through a promise, not a sleep: a 0 s timer runs after
      -- the timers of its turn, and a slow turn makes a sleep due first.)
      local called, resolve = tide.deferred()
      tide.set_timeout(function() hog(); resolve() end, 0)
      called:await()
      tide.debug(prev)
      -- The two hogs; under GC stress a full collection at an await can be
      -- a slow step of its own, reported too.
      local hogs = {}
      for _, r in ipairs(reports) do
        if r.seconds >= 0.05 then hogs[#hogs + 1] = r end
      end
      assert.equal(2, #hogs)
      assert.equal("a task step", hogs[1].what)
      assert.matches(SPEC, hogs[1].traceback)
      assert.matches("^a callback %(function at [^\n]*" .. SPEC, hogs[2].what)
      -- Off again: nothing more is reported.
      local n = #reports
      tide.spawn(hog):await()
      assert.equal(n, #reports)
    end)
  end)

  it("tide.debug{origins=true}: promises remember where they were made", function()
    run(function()
      local prev = tide.debug { origins = true }
      local p = tide.deferred() local l_p = line()
      tide.debug(prev)
      assert.matches(SPEC .. l_p .. "$", core.origin(p))
      assert.is_nil(core.origin(tide.deferred()))
    end)
  end)

  it("TIDE_DEBUG=1: deadlock and unhandled-rejection reports say where, slow steps are reported", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.spawn(function() local t = os.clock() repeat until os.clock() - t > 0.15 end)
      tide.reject("lost")
      local ok, err = pcall(tide.await, tide.deferred())
      print(err)
    ]], nil, { TIDE_DEBUG = "1" })
    assert.equal(0, status, out) -- pcall caught the failure of the script
    assert.matches("tide: slow: the last step of a task held the loop for", out, 1, true)
    assert.matches("tide: unhandled rejection: lost\n%(the promise was made at [^\n]*script.lua:3%)", out)
  end)

  it("a deadlock with origins says where the promise was made", function()
    local out = helper.lua([[
      local tide = require "tide"
      tide.debug { origins = true }
      local ok, err = pcall(tide.await, tide.deferred())
      print(err)
    ]])
    assert.matches("deadlock: tide.await is waiting on tide.promise (pending) (made at ", out, 1, true)
    assert.matches("script.lua:3%), but no work is left", out)
  end)

  it("tide.debug checks its options", function()
    assert.has_error(function() tide.debug { slow = "x" } end,
      "bad option 'slow' to 'debug' (number expected, got string)")
    assert.has_error(function() tide.debug { slow = -1 } end)
    assert.is_false(pcall(tide.debug, { nope = 1 }))
    local prev = tide.debug {}
    assert.is_nil(prev.slow)
    assert.is_false(prev.origins)
  end)
  -- Found by the API fuzzer: building an entry allocates, an allocation can
  -- run a finalizer, and a finalizer that cancelled what the list was about
  -- to show left tide.handles() reading a freed anchor (a NULL promise).
  it("tide.handles and tide.tasks hold up when finalizers settle what they are listing", function()
    run(function()
      for _ = 1, 10 do
        local sleeps, tasks = {}, {}
        for i = 1, 40 do
          sleeps[i] = tide.sleep(60)
          tasks[i] = tide.spawn(function() tide.sleep(60):await() end)
        end
        tide.sleep(0):await()
        collectgarbage()
        for i = 1, 40 do
          setmetatable({}, { __gc = function()
            sleeps[i]:cancel()
            tasks[i]:cancel()
          end })
        end
        -- A new cycle, then a collection step at nearly every allocation,
        -- so that the finalizers run while the lists are built.
        collectgarbage("incremental", 1, 1000, 1)
        collectgarbage("step", 0)
        local ok_h, handles = pcall(tide.handles)
        local ok_t, live = pcall(tide.tasks)
        collectgarbage("incremental", 200, 100, 13)
        collectgarbage()
        assert.is_true(ok_h, handles)
        assert.is_true(ok_t, live)
        for _, list in ipairs { handles, live } do
          local n = 0
          for _ in pairs(list) do n = n + 1 end
          assert.equal(#list, n) -- no holes where a settled entry was skipped
        end
        for _, h in ipairs(handles) do
          assert.is_string(h.kind)
          assert.is_truthy(h.promise or h.task or h.timer)
        end
        for i = 1, 40 do
          sleeps[i]:cancel()
          tasks[i]:cancel()
        end
        tide.sleep(0):await()
      end
    end)
  end)
end)
