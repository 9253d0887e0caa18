-- Time: tide.sleep, tide.set_timeout, tide.set_interval, tide.now.
--
-- Timing assertions are loose on purpose (a loaded 2-core machine): a wait
-- of s seconds must take at least s (timers never fire early) and well under
-- a second more. No benchmarks here.
local helper = require "spec.helper"
local tide = require "tide"

-- What reaches tide.on_unhandled during the test, each report whole.
local function capture_unhandled()
  return helper.capture_unhandled(finally, function(reason, promise, traceback)
    return { reason = reason, promise = promise, traceback = traceback }
  end)
end

-- Seconds that fn() took.
local function timed(fn)
  local t0 = tide.now()
  fn()
  return tide.now() - t0
end

-- Starts a task that keeps the loop turning (sleep(0) in a loop) until the
-- returned stop function is called; stop() waits for it to end.
local function keep_loop_turning()
  local done = false
  local spinner = tide.spawn(function()
    while not done do tide.sleep(0):await() end
  end)
  return function()
    done = true
    spinner:await()
  end
end

describe("tide.sleep", function()
  helper.setup()

  it("returns a pending promise that fulfils with nil after the delay", function()
    helper.run(function()
      local t0 = tide.now()
      local p = tide.sleep(0.05)
      assert.equal("pending", p:state())
      assert.equal("tide.promise (pending)", tostring(p))
      local res = table.pack(p:await())
      local elapsed = tide.now() - t0
      assert.equal(1, res.n)
      assert.is_nil(res[1])
      assert.equal("fulfilled", p:state())
      assert.equal("tide.promise (fulfilled: nil)", tostring(p))
      assert.is_true(elapsed >= 0.05, ("sleep(0.05) took only %.6f s"):format(elapsed))
      assert.is_true(elapsed < 1, ("sleep(0.05) took %.3f s"):format(elapsed))
    end)
  end)

  it("never ends early, even while the loop keeps turning", function()
    helper.run(function()
      local stop = keep_loop_turning()
      local early = {}
      for _ = 1, 20 do
        local t0 = tide.now()
        tide.sleep(0.01):await()
        local elapsed = tide.now() - t0
        if elapsed < 0.01 then early[#early + 1] = ("%.6f"):format(elapsed) end
      end
      stop()
      assert.same({}, early, "sleep(0.01) ended early: " .. table.concat(early, ", "))
    end)
  end)

  it("lets sleeps run concurrently and ends them in order of their deadlines", function()
    local order = {}
    local elapsed = timed(function()
      helper.run(function()
        local tasks = {}
        for _, d in ipairs { 3, 1, 2 } do
          tasks[#tasks + 1] = tide.spawn(function()
            tide.sleep(d * 0.02 * helper.SLOW):await()
            order[#order + 1] = d
          end)
        end
        tide.all(tasks):await()
      end)
    end)
    assert.same({ 1, 2, 3 }, order)
    assert.is_true(elapsed >= 0.05 and elapsed < 1 * helper.SLOW, ("took %.3f s"):format(elapsed))
  end)

  it("runs 200 sleeps at once, not one after the other", function()
    local finished = 0
    local last_start, first_end = -math.huge, math.huge
    local elapsed = timed(function()
      helper.run(function()
        local tasks = {}
        for i = 1, 200 do
          tasks[i] = tide.spawn(function()
            last_start = math.max(last_start, tide.now())
            tide.sleep(0.05):await()
            first_end = math.min(first_end, tide.now())
            finished = finished + 1
          end)
        end
        tide.all(tasks):await()
      end)
    end)
    assert.equal(200, finished)
    -- Every sleep began before the first one ended: they overlapped (one
    -- after the other would take 10 s, and each would begin after the last
    -- ended). No bound on the total, which slow builds stretch.
    assert.is_true(last_start < first_end, ("last start %.3f, first end %.3f"):format(last_start, first_end))
    assert.is_true(elapsed >= 0.05, ("took %.3f s"):format(elapsed))
  end)

  it("can be awaited at the top level, outside any task", function()
    local p = tide.sleep(0.01)
    local res = table.pack(p:await())
    assert.equal(1, res.n)
    assert.is_nil(res[1])
    assert.equal("fulfilled", p:state())
  end)

  it("sleep(0) does not resolve synchronously but after one loop turn", function()
    helper.run(function()
      local p = tide.sleep(0)
      assert.equal("pending", p:state())
      tide.resolve():await() -- microtasks alone do not turn the loop
      assert.equal("pending", p:state())
      assert.is_nil(p:await())
      assert.equal("fulfilled", p:state())
    end)
  end)

  it("sleep(0) makes two tasks take turns", function()
    local log = {}
    helper.run(function()
      local function worker(name)
        return tide.spawn(function()
          for i = 1, 3 do
            log[#log + 1] = name .. i
            tide.sleep(0):await()
          end
        end)
      end
      tide.all { worker("a"), worker("b") }:await()
    end)
    assert.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, log)
  end)

  it("sleep(0) is exactly one loop turn: it keeps step with a set_timeout(fn, 0) chain", function()
    local log = {}
    helper.run(function()
      local n = 0
      local function tick()
        n = n + 1
        log[#log + 1] = "t" .. n
        if n < 4 then tide.set_timeout(tick, 0) end
      end
      tide.set_timeout(tick, 0)
      for i = 1, 4 do
        tide.sleep(0):await()
        log[#log + 1] = "s" .. i
      end
    end)
    assert.same({ "t1", "s1", "t2", "s2", "t3", "s3", "t4", "s4" }, log)
  end)

  it("sleep(0) in a loop does not starve timers", function()
    local spins = 0
    helper.run(function()
      local fired = false
      tide.set_timeout(function() fired = true end, 0.02)
      while not fired do
        spins = spins + 1
        tide.sleep(0):await()
      end
    end, 5)
    assert.is_true(spins > 1)
  end)

  it("runs the microtasks queued before sleep(0) before it resumes", function()
    local log = {}
    helper.run(function()
      tide.resolve():next(function() log[#log + 1] = "microtask" end)
      tide.sleep(0):await()
      log[#log + 1] = "resumed"
    end)
    assert.same({ "microtask", "resumed" }, log)
  end)

  it("rejects a delay that is not a number", function()
    assert.has_error(function() tide.sleep("x") end,
      "bad argument #1 to 'sleep' (number expected, got string)")
    assert.has_error(function() tide.sleep() end,
      "bad argument #1 to 'sleep' (number expected, got no value)")
    assert.has_error(function() tide.sleep(nil) end,
      "bad argument #1 to 'sleep' (number expected, got nil)")
    assert.has_error(function() tide.sleep({}) end,
      "bad argument #1 to 'sleep' (number expected, got table)")
  end)

  it("rejects a negative or NaN delay", function()
    assert.has_error(function() tide.sleep(-0.001) end,
      "bad argument #1 to 'sleep' (must be a non-negative number of seconds)")
    assert.has_error(function() tide.sleep(-math.huge) end,
      "bad argument #1 to 'sleep' (must be a non-negative number of seconds)")
    assert.has_error(function() tide.sleep(0 / 0) end,
      "bad argument #1 to 'sleep' (must be a non-negative number of seconds)")
  end)

  it("rejects options that are not a table", function()
    assert.has_error(function() tide.sleep(1, 5) end,
      "bad argument #2 to 'sleep' (table expected, got number)")
    assert.has_error(function() tide.sleep(1, "signal") end,
      "bad argument #2 to 'sleep' (table expected, got string)")
    assert.has_error(function() tide.sleep(1, true) end,
      "bad argument #2 to 'sleep' (table expected, got boolean)")
  end)

  it("rejects a signal option that is not a tide.signal", function()
    local ctl = tide.abort_controller()
    assert.has_error(function() tide.sleep(1, { signal = 5 }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got number)")
    assert.has_error(function() tide.sleep(1, { signal = "abort" }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got string)")
    assert.has_error(function() tide.sleep(1, { signal = {} }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got table)")
    -- The controller itself is not its signal.
    assert.has_error(function() tide.sleep(1, { signal = ctl }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got table)")
    assert.has_error(function() tide.sleep(0, { signal = false }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got boolean)")
  end)

  it("treats options without a signal like no options", function()
    helper.run(function()
      assert.is_nil(tide.sleep(0.001, {}):await())
      assert.is_nil(tide.sleep(0, {}):await())
      assert.is_nil(tide.sleep(0.001, { signal = nil }):await())
    end)
  end)

  it("rejects with exactly the signal's reason on abort, and stops its timer", function()
    local reason = { why = "user went away" }
    local elapsed = timed(function()
      helper.run(function()
        local ctl = tide.abort_controller()
        local p = tide.sleep(30, { signal = ctl.signal })
        tide.set_timeout(function() ctl:abort(reason) end, 0.01)
        local ok, err = tide.pawait(p)
        assert.is_false(ok)
        assert.is_true(rawequal(reason, err))
        assert.equal("rejected", p:state())
      end)
      tide.run() -- a timer left behind would keep this going for 30 s
    end)
    assert.is_true(elapsed < 5, ("took %.3f s"):format(elapsed))
  end)

  it("rejects at once when the signal has already aborted", function()
    local ctl = tide.abort_controller()
    local reason = {}
    ctl:abort(reason)
    local p = tide.sleep(30, { signal = ctl.signal })
    assert.equal("rejected", p:state())
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.is_true(rawequal(reason, err))
  end)

  it("rejects with a cancelled tide.error when aborted without a reason", function()
    helper.run(function()
      local ctl = tide.abort_controller()
      local p = tide.sleep(30, { signal = ctl.signal })
      ctl:abort()
      local ok, err = tide.pawait(p)
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "cancelled"))
      assert.is_true(rawequal(ctl.signal.reason, err))
    end)
  end)

  it("aborts every sleep tied to one signal, zero-delay ones included", function()
    helper.run(function()
      local ctl = tide.abort_controller()
      local long = tide.sleep(30, { signal = ctl.signal })
      local zero = tide.sleep(0, { signal = ctl.signal })
      assert.is_true(ctl:abort("stop"))
      assert.equal("rejected", long:state())
      assert.equal("rejected", zero:state())
      assert.same({ false, "stop" }, { tide.pawait(long) })
      assert.same({ false, "stop" }, { tide.pawait(zero) })
    end)
  end)

  it("is not changed by an abort after it ended", function()
    helper.run(function()
      local ctl = tide.abort_controller()
      local p = tide.sleep(0.001, { signal = ctl.signal })
      p:await()
      ctl:abort("too late")
      assert.equal("fulfilled", p:state())
      assert.same({ true, nil }, { tide.pawait(p) })
    end)
  end)

  it("accepts an infinite delay, which only an abort ends", function()
    helper.run(function()
      local ctl = tide.abort_controller()
      local p = tide.sleep(math.huge, { signal = ctl.signal })
      tide.sleep(0.01):await()
      assert.equal("pending", p:state())
      ctl:abort("enough")
      assert.same({ false, "enough" }, { tide.pawait(p) })
    end)
  end)

  it("stops the timer of the sleep a cancelled task was awaiting", function()
    local elapsed = timed(function()
      local p
      helper.run(function()
        local task = tide.spawn(function()
          p = tide.sleep(30)
          p:await()
        end)
        tide.sleep(0.01):await()
        assert.is_true(task:cancel("stop"))
        local ok, err = tide.pawait(task)
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "cancelled"))
        assert.equal("rejected", p:state())
      end)
      tide.run()
    end)
    assert.is_true(elapsed < 5, ("took %.3f s"):format(elapsed))
  end)

  it("rejects a top-level await of an aborted sleep without reporting it as unhandled", function()
    local reports = capture_unhandled()
    local ctl = tide.abort_controller()
    local reason = {}
    local p = tide.sleep(30, { signal = ctl.signal })
    tide.set_timeout(function() ctl:abort(reason) end, 0.01)
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.is_true(rawequal(reason, err))
    tide.run()
    assert.equal(0, #reports)
  end)
end)

describe("tide.set_timeout", function()
  helper.setup()

  it("calls fn once after the delay, outside any task", function()
    -- Assertions inside a callback would only reach on_unhandled: record.
    local where, nargs, elapsed = "not called", nil, nil
    helper.run(function()
      local done, resolve = tide.deferred()
      local t0 = tide.now()
      tide.set_timeout(helper.expect(1, function(...)
        elapsed = tide.now() - t0
        where = tide.current() == nil and "outside" or "in a task"
        nargs = select("#", ...)
        resolve()
      end), 0.02)
      done:await()
      tide.sleep(0.03):await() -- and not a second time
    end)
    assert.equal("outside", where)
    assert.equal(0, nargs)
    assert.is_true(elapsed >= 0.02 and elapsed < 1, ("fired after %.6f s"):format(elapsed))
  end)

  it("never fires early, even while the loop keeps turning", function()
    helper.run(function()
      local stop = keep_loop_turning()
      local early = {}
      for _ = 1, 20 do
        local fired, resolve = tide.deferred()
        local t0 = tide.now()
        tide.set_timeout(function() resolve(tide.now() - t0) end, 0.01)
        local elapsed = fired:await()
        if elapsed < 0.01 then early[#early + 1] = ("%.6f"):format(elapsed) end
      end
      stop()
      assert.same({}, early, "set_timeout(fn, 0.01) fired early: " .. table.concat(early, ", "))
    end)
  end)

  it("fires timers in order of their deadlines, equal ones in creation order", function()
    local log = {}
    tide.set_timeout(function() log[#log + 1] = "c" end, 0.03)
    tide.set_timeout(function() log[#log + 1] = "a" end, 0.01)
    tide.set_timeout(function() log[#log + 1] = "b" end, 0.01)
    tide.run()
    assert.same({ "a", "b", "c" }, log)
  end)

  it("runs set_timeout(fn, 0) on the next loop turn, after the pending microtasks", function()
    local log = {}
    helper.run(function()
      tide.set_timeout(function() log[#log + 1] = "timeout" end, 0)
      tide.resolve():next(function() log[#log + 1] = "microtask" end)
      log[#log + 1] = "sync"
      assert.same({ "sync" }, log)
      tide.sleep(0):await()
    end)
    assert.same({ "sync", "microtask", "timeout" }, log)
  end)

  it("returns a tide.timer whose tostring shows whether it is pending", function()
    local t = tide.set_timeout(helper.expect(1), 0.001)
    assert.equal("tide.timer", getmetatable(t).__name)
    assert.equal("tide.timer (pending)", tostring(t))
    tide.run()
    assert.equal("tide.timer (done)", tostring(t))
    assert.is_false(t:cancel())
  end)

  it("cancel() stops it and returns true only while it is pending", function()
    helper.run(function()
      local t = tide.set_timeout(helper.expect(0), 0.01)
      assert.is_true(t:cancel())
      assert.equal("tide.timer (done)", tostring(t))
      assert.is_false(t:cancel())
      tide.sleep(0.03):await()
    end)
  end)

  it("cancel() stops a zero-delay timer before its turn", function()
    helper.run(function()
      local t = tide.set_timeout(helper.expect(0), 0)
      assert.is_true(t:cancel())
      assert.is_false(t:cancel())
      tide.sleep(0):await()
      tide.sleep(0):await()
    end)
  end)

  it("lets a callback cancel another timer that is due at the same moment", function()
    local second, zero_second
    tide.set_timeout(function() assert(second:cancel()) end, 0.01)
    second = tide.set_timeout(helper.expect(0), 0.01)
    tide.set_timeout(function() assert(zero_second:cancel()) end, 0)
    zero_second = tide.set_timeout(helper.expect(0), 0)
    local reports = capture_unhandled()
    tide.run()
    assert.equal(0, #reports)
  end)

  it("is cancelled by leaving the scope of a <close> variable", function()
    helper.run(function()
      do
        local t <close> = tide.set_timeout(helper.expect(0), 0.01)
        assert.equal("tide.timer (pending)", tostring(t))
      end
      local zero
      local ok = pcall(function()
        local t <close> = tide.set_timeout(helper.expect(0), 0)
        zero = t
        error("unwinding")
      end)
      assert.is_false(ok)
      assert.equal("tide.timer (done)", tostring(zero))
      do
        -- Closing a timer that already fired does nothing.
        local t <close> = tide.set_timeout(helper.expect(1), 0)
        tide.sleep(0):await() -- queued after the timer: it has run
        assert.equal("tide.timer (done)", tostring(t))
      end
      tide.sleep(0.03):await()
    end)
  end)

  it("does not keep tide.run() going once unref'd", function()
    local t = tide.set_timeout(helper.expect(0), 5)
    assert.is_true(rawequal(t, t:unref()))
    local elapsed = timed(tide.run)
    assert.is_true(elapsed < 2.5, ("tide.run() waited %.3f s for an unref'd timer"):format(elapsed))
    assert.equal("tide.timer (pending)", tostring(t))
    assert.is_true(t:cancel())
  end)

  it("still fires when unref'd while other work keeps the loop going", function()
    helper.run(function()
      tide.set_timeout(helper.expect(1), 0.01):unref()
      tide.sleep(0.05):await()
    end)
  end)

  it("keeps tide.run() going again after ref()", function()
    local t = tide.set_timeout(helper.expect(1), 0.02)
    assert.is_true(rawequal(t, t:unref():ref()))
    tide.run()
    assert.equal("tide.timer (done)", tostring(t))
  end)

  it("does not keep tide.run() going once unref'd, even with a zero delay", function()
    local calls = 0
    local t = tide.set_timeout(function() calls = calls + 1 end, 0):unref()
    finally(function() t:cancel() end)
    tide.run()
    assert.equal(0, calls)
    assert.equal("tide.timer (pending)", tostring(t))
  end)

  it("raises a usage tide.error when the callback awaits", function()
    local errs = {}
    helper.run(function()
      local pending = tide.deferred()
      tide.set_timeout(function()
        local ok, err = pcall(function() return pending:await() end)
        errs[1] = { ok, err }
        ok, err = pcall(tide.await, pending)
        errs[2] = { ok, err }
      end, 0)
      tide.sleep(0):await() -- queued after the timer: it has run
    end)
    assert.equal(2, #errs)
    for _, e in ipairs(errs) do
      assert.is_false(e[1])
      assert.is_true(tide.is_error(e[2], "usage"))
      assert.equal("tide.await cannot wait here: the event loop is running but this code is not in a tide "
        .. "task (a callback, a next() handler, or a plain coroutine); run it with tide.spawn and await inside",
        e[2].message)
    end
  end)

  it("lets the callback spawn a task that awaits", function()
    local done = helper.expect(1)
    helper.run(function()
      local finished, resolve = tide.deferred()
      tide.set_timeout(function()
        tide.spawn(function()
          tide.sleep(0.001):await()
          done()
          resolve()
        end)
      end, 0.001)
      finished:await()
    end)
  end)

  it("hands an error raised in the callback to on_unhandled, unchanged, and carries on", function()
    local reports = capture_unhandled()
    local raised = { "callback failure" }
    tide.set_timeout(function() error(raised) end, 0.001)
    tide.set_timeout(function() error("plain string", 0) end, 0.002)
    local later = helper.expect(1)
    tide.set_timeout(later, 0.01)
    tide.run()
    assert.equal(2, #reports)
    assert.is_true(rawequal(raised, reports[1].reason))
    assert.is_nil(reports[1].promise)
    assert.equal("string", type(reports[1].traceback))
    assert.matches("stack traceback:", reports[1].traceback, 1, true)
    assert.matches("timer_spec.lua", reports[1].traceback, 1, true)
    assert.equal("plain string", reports[2].reason)
  end)

  it("on_unhandled returns the previous handler; nil restores the default", function()
    local function h1() end
    local function h2() end
    local prev = tide.on_unhandled(h1)
    finally(function() tide.on_unhandled(prev) end)
    assert.equal("function", type(prev))
    assert.equal(h1, tide.on_unhandled(h2))
    assert.equal(h2, tide.on_unhandled(nil))
    local default = tide.on_unhandled(h1)
    assert.equal("function", type(default))
    assert.is_true(default ~= h1 and default ~= h2)
    assert.has_error(function() tide.on_unhandled(5) end,
      "bad argument #1 to 'on_unhandled' (function expected, got number)")
  end)

  it("reports callback errors on stderr with the default handler", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.on_unhandled(function() print("custom handler") end)
      tide.on_unhandled(nil)
      tide.set_timeout(function() error("timer-boom-7", 0) end, 0)
      tide.run()
      print("still alive")
    ]])
    -- Reported, then the script fails (DESIGN.md, "Diagnostics").
    assert.equal(1, status)
    assert.matches("timer-boom-7", out, 1, true)
    assert.matches("stack traceback:", out, 1, true)
    assert.is_nil(out:find("still alive", 1, true))
    assert.is_nil(out:find("custom handler", 1, true))
  end)

  it("fires even when nothing references its handle any more", function()
    tide.set_timeout(helper.expect(1), 0.01)
    tide.set_timeout(helper.expect(1), 0)
    collectgarbage()
    collectgarbage()
    tide.run()
  end)

  it("rejects a callback that is not a function", function()
    assert.has_error(function() tide.set_timeout("print", 1) end,
      "bad argument #1 to 'set_timeout' (function expected, got string)")
    assert.has_error(function() tide.set_timeout(nil, 1) end,
      "bad argument #1 to 'set_timeout' (function expected, got nil)")
    assert.has_error(function() tide.set_timeout() end,
      "bad argument #1 to 'set_timeout' (function expected, got no value)")
  end)

  it("rejects a delay that is missing, not a number, negative or NaN", function()
    local fn = function() end
    assert.has_error(function() tide.set_timeout(fn) end,
      "bad argument #2 to 'set_timeout' (number expected, got no value)")
    assert.has_error(function() tide.set_timeout(fn, "soon") end,
      "bad argument #2 to 'set_timeout' (number expected, got string)")
    assert.has_error(function() tide.set_timeout(fn, -1) end,
      "bad argument #2 to 'set_timeout' (must be a non-negative number of seconds)")
    assert.has_error(function() tide.set_timeout(fn, 0 / 0) end,
      "bad argument #2 to 'set_timeout' (must be a non-negative number of seconds)")
  end)

  it("checks that timer methods are called on a tide.timer", function()
    local t = tide.set_timeout(function() end, 1)
    assert.has_error(function() t.cancel(5) end,
      "bad argument #1 to 'cancel' (tide.timer expected, got number)")
    assert.has_error(function() t.unref({}) end,
      "bad argument #1 to 'unref' (tide.timer expected, got table)")
    assert.has_error(function() t.ref() end,
      "bad argument #1 to 'ref' (tide.timer expected, got no value)")
    assert.is_true(t:cancel())
  end)
end)

describe("tide.set_interval", function()
  helper.setup()

  it("calls fn repeatedly until cancelled, here from inside fn", function()
    local calls, cancelled, in_task = 0, nil, false
    local iv
    local elapsed = timed(function()
      helper.run(function()
        local done, resolve = tide.deferred()
        iv = tide.set_interval(function()
          calls = calls + 1
          in_task = in_task or tide.current() ~= nil
          if calls == 3 then
            cancelled = iv:cancel()
            resolve()
          end
        end, 0.01)
        assert.equal("tide.timer (pending)", tostring(iv))
        done:await()
        tide.sleep(0.03):await() -- no call after the cancel
      end)
    end)
    assert.equal(3, calls)
    assert.is_false(in_task)
    assert.is_true(cancelled)
    assert.equal("tide.timer (done)", tostring(iv))
    assert.is_false(iv:cancel())
    assert.is_true(elapsed >= 0.02 and elapsed < 2, ("took %.3f s"):format(elapsed))
  end)

  it("stays pending between calls", function()
    helper.run(function()
      local calls = 0
      local iv = tide.set_interval(function() calls = calls + 1 end, 0.005)
      while calls < 2 do tide.sleep(0.001):await() end
      assert.equal("tide.timer (pending)", tostring(iv))
      assert.is_true(iv:cancel())
    end)
  end)

  it("has a 1 ms floor, so an interval of 0 does not spin", function()
    local calls = 0
    local elapsed
    helper.run(function()
      local iv = tide.set_interval(function() calls = calls + 1 end, 0)
      local t0 = tide.now()
      tide.sleep(0.03):await()
      elapsed = tide.now() - t0
      assert.is_true(iv:cancel())
    end)
    assert.is_true(calls >= 1, "the interval never ran")
    -- At most one call per millisecond (plus one for rounding).
    assert.is_true(calls <= math.floor(elapsed * 1000) + 2,
      ("%d calls in %.3f s"):format(calls, elapsed))
  end)

  it("does not keep tide.run() going once unref'd", function()
    local iv = tide.set_interval(helper.expect(0), 0.001):unref()
    local elapsed = timed(tide.run)
    assert.is_true(elapsed < 2.5, ("tide.run() took %.3f s"):format(elapsed))
    assert.is_true(iv:cancel())
  end)

  it("stays unref'd after it fired", function()
    local calls = 0
    local iv = tide.set_interval(function() calls = calls + 1 end, 0.002):unref()
    helper.run(function()
      while calls < 2 do tide.sleep(0.001):await() end
    end)
    local elapsed = timed(tide.run)
    assert.is_true(elapsed < 2.5, ("tide.run() took %.3f s"):format(elapsed))
    assert.is_true(iv:cancel())
  end)

  it("is cancelled by leaving the scope of a <close> variable", function()
    local calls = 0
    helper.run(function()
      do
        local iv <close> = tide.set_interval(function() calls = calls + 1 end, 0.001)
        while calls < 2 do tide.sleep(0.001):await() end
        assert.equal("tide.timer (pending)", tostring(iv))
      end
      local seen = calls
      tide.sleep(0.02):await()
      assert.equal(seen, calls)
    end)
  end)

  it("rejects bad arguments like set_timeout", function()
    local fn = function() end
    assert.has_error(function() tide.set_interval(42, 1) end,
      "bad argument #1 to 'set_interval' (function expected, got number)")
    assert.has_error(function() tide.set_interval(fn) end,
      "bad argument #2 to 'set_interval' (number expected, got no value)")
    assert.has_error(function() tide.set_interval(fn, {}) end,
      "bad argument #2 to 'set_interval' (number expected, got table)")
    assert.has_error(function() tide.set_interval(fn, -0.5) end,
      "bad argument #2 to 'set_interval' (must be a non-negative number of seconds)")
    assert.has_error(function() tide.set_interval(fn, 0 / 0) end,
      "bad argument #2 to 'set_interval' (must be a non-negative number of seconds)")
  end)
end)

describe("tide.now", function()
  helper.setup()

  it("returns seconds as a float that never goes backwards", function()
    local prev = tide.now()
    assert.equal("float", math.type(prev))
    for _ = 1, 10000 do
      local t = tide.now()
      assert(t >= prev, "tide.now() went backwards")
      prev = t
    end
  end)

  it("resolves well below a millisecond", function()
    local best = math.huge
    for _ = 1, 5 do
      local t1 = tide.now()
      local t2
      repeat t2 = tide.now() until t2 ~= t1
      best = math.min(best, t2 - t1)
    end
    assert.is_true(best > 0 and best < 0.0005, ("smallest step %.9f s"):format(best))
  end)

  it("follows real time while Lua code runs, without a loop turn", function()
    local t0, c0 = tide.now(), os.clock()
    repeat until os.clock() - c0 >= 0.02 -- CPU time never runs ahead of real time
    local elapsed = tide.now() - t0
    assert.is_true(elapsed >= 0.02 and elapsed < 5, ("advanced %.6f s"):format(elapsed))
  end)

  it("agrees with sleep", function()
    helper.run(function()
      local t0 = tide.now()
      tide.sleep(0.03):await()
      local elapsed = tide.now() - t0
      -- Loose: that a sleep never ends early is pinned down by tide.sleep's tests.
      assert.is_true(elapsed >= 0.025 and elapsed < 1, ("advanced %.6f s"):format(elapsed))
    end)
  end)
end)
