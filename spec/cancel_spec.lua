-- Cancellation: task:cancel, abort controllers and signals, tide.timeout.
-- A cancelled operation really stops: its timer leaves the loop.
local helper = require "spec.helper"
local tide = require "tide"
local core = require "tide.core"

local function timers() return core.stats().timers end

describe("task:cancel", function()
  helper.setup()

  it("raises a cancelled error at the task's await, with the reason", function()
    local seen
    local t = tide.spawn(function()
      local ok, err = pcall(tide.await, tide.sleep(10))
      seen = err
      assert(not ok)
      error(err, 0)
    end)
    assert.is_true(t:cancel("no longer needed"))
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.equal(seen, err)
    assert.is_true(tide.is_error(err, "cancelled"))
    assert.equal("no longer needed", err.reason)
    assert.equal("cancelled: no longer needed", tostring(err))
  end)

  it("a task that cancels itself and then starts work: that work stops at its next await", function()
    local started
    local t = tide.spawn(function()
      tide.current():cancel("changed my mind")
      started = tide.sleep(3600) -- started after the cancel, never awaited
      tide.sleep(0):await()      -- where the task hears of it
    end)
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"))
    assert.equal("rejected", started:state())
  end)

  it("cancels a task whose body returned a promise that is still pending", function()
    local never = tide.deferred()
    local t = tide.spawn(function() return never end)
    assert.equal("pending", t:state())
    assert.is_true(t:cancel("stop"))
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"))
    assert.equal("pending", never:state()) -- someone else's promise: left alone
  end)

  it("cancels a task whose body returned a foreign thenable that has not settled", function()
    local settle
    local thenable = setmetatable({}, { __index = { next = function(_, on_ok) settle = on_ok end } })
    local t = tide.spawn(function() return thenable end)
    tide.sleep(0):await() -- the thenable's next runs as a microtask
    assert.is_function(settle)
    assert.is_true(t:cancel("stop"))
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"))
    settle("late") -- ignored: the task has ended
    assert.same({ false, err }, { tide.pawait(t) })
  end)

  it("a scope whose child returned a pending promise still ends on a sibling's failure", function()
    local ok, err = tide.pawait(tide.scope(function(s)
      s:spawn(function() return (tide.deferred()) end)
      s:spawn(function() tide.sleep(0.005):await(); error("boom", 0) end)
    end))
    assert.is_false(ok)
    assert.equal("boom", err)
  end)

  it("stops the I/O the task started, including what it did not await", function()
    local t = tide.spawn(function()
      tide.sleep(20) -- started, never awaited
      tide.all { tide.sleep(10), tide.sleep(30) }:await()
    end)
    assert.equal(3, timers())
    t:cancel()
    assert.equal(0, timers())
    assert.is_false((tide.pawait(t)))
  end)

  it("runs pcall handlers and <close> cleanup, which may still await", function()
    local log = {}
    local t = tide.spawn(function()
      local _ <close> = setmetatable({}, { __close = function(_, e)
        tide.sleep(0.001):await()
        log[#log + 1] = "closed with " .. tostring(e and e.kind)
      end })
      tide.sleep(10):await()
    end)
    t:cancel()
    tide.pawait(t)
    assert.same({ "closed with cancelled" }, log)
  end)

  it("fulfils the task if it catches the cancellation and returns", function()
    local t = tide.spawn(function()
      local ok, err = tide.pawait(tide.sleep(10))
      assert(not ok and tide.is_error(err, "cancelled"))
      tide.sleep(0.001):await() -- it can go on awaiting
      return "recovered"
    end)
    t:cancel()
    assert.equal("recovered", tide.await(t))
  end)

  it("reaches a running task at its next await", function()
    local t
    t = tide.spawn(function()
      assert.is_true(t == nil or t:cancel("self")) -- t is nil on the first, synchronous run
      tide.sleep(0):await()
      tide.current():cancel("myself")
      local ok, v = tide.pawait(tide.resolve(1)) -- settled: no wait, no cancellation yet
      assert(ok and v == 1)
      local _, err = tide.pawait(tide.sleep(10))
      return err.reason
    end)
    assert.equal("myself", tide.await(t))
  end)

  it("returns false for a finished task, and twice cancelling is harmless", function()
    local t = tide.spawn(function() return 1 end)
    assert.is_false(t:cancel())
    local t2 = tide.spawn(function() tide.sleep(10):await() end)
    assert.is_true(t2:cancel("a"))
    assert.is_true(t2:cancel("b"))
    local _, err = tide.pawait(t2)
    assert.equal("a", err.reason)
  end)

  it("cancels the tasks it spawned that are still running", function()
    local child_err
    local parent = tide.spawn(function()
      tide.spawn(function()
        local _, err = tide.pawait(tide.sleep(10))
        child_err = err
      end)
      tide.sleep(10):await()
    end)
    parent:cancel("stop all")
    tide.pawait(parent)
    tide.sleep(0):await()
    assert.is_true(tide.is_error(child_err, "cancelled"))
    assert.equal("stop all", child_err.reason)
  end)

  it("does not report its own cancellation as unhandled", function()
    local seen = 0
    local prev = tide.on_unhandled(function() seen = seen + 1 end)
    local t = tide.spawn(function() tide.sleep(10):await() end)
    t:cancel()
    tide.sleep(0.002):await()
    tide.on_unhandled(prev)
    assert.equal(0, seen)
    assert.equal("rejected", t:state())
  end)

  it("wraps a tide.error reason as the cause", function()
    local t = tide.spawn(function() tide.sleep(10):await() end)
    local why = tide.error("shutdown", "server going down")
    t:cancel(why)
    local _, err = tide.pawait(t)
    assert.equal(why, err.reason)
    assert.equal(why, err.cause)
    assert.equal("cancelled: cancelled because of a shutdown error\ncaused by: shutdown: server going down",
      tostring(err))
  end)

  it("is a method of tasks only", function()
    assert.has_error(function() tide.spawn(function() end).cancel(tide.resolve(1)) end,
      "bad argument #1 to 'cancel' (tide.task expected, got tide.promise)")
  end)
end)

describe("abort controllers and signals", function()
  helper.setup()

  it("methods check what they are called on", function()
    local ctl = tide.abort_controller()
    assert.has_error(function() ctl.abort(42) end,
      "bad argument #1 to 'abort' (tide.abort_controller expected; call it as controller:abort(...))")
    assert.has_error(function() ctl.signal.on_abort(42, print) end,
      "bad argument #1 to 'on_abort' (tide.signal expected; call it as signal:on_abort(...))")
    assert.has_error(function() ctl.signal:on_abort(42) end,
      "bad argument #1 to 'on_abort' (function expected, got number)")
    assert.has_error(function() ctl.signal.throw_if_aborted() end,
      "bad argument #1 to 'throw_if_aborted' (tide.signal expected; call it as signal:throw_if_aborted(...))")
    local s = tide.scope()
    assert.has_error(function() s.cancel("why") end,
      "bad argument #1 to 'cancel' (tide.scope expected; call it as scope:cancel(...))")
    s:__close()
  end)

  it("a signal reports its state", function()
    local ctl = tide.abort_controller()
    local s = ctl.signal
    assert.is_false(s.aborted)
    assert.is_nil(s.reason)
    assert.equal("tide.signal (active)", tostring(s))
    assert.is_true(ctl:abort("why"))
    assert.is_false(ctl:abort("again"))
    assert.is_true(s.aborted)
    assert.equal("why", s.reason)
    assert.equal("tide.signal (aborted)", tostring(s))
    assert.equal("tide.abort_controller (aborted)", tostring(ctl))
  end)

  it("abort() without a reason uses a cancelled error", function()
    local ctl = tide.abort_controller()
    ctl:abort()
    assert.is_true(tide.is_error(ctl.signal.reason, "cancelled"))
  end)

  it("rejects a waiting operation with the signal's reason and stops it", function()
    local ctl = tide.abort_controller()
    local p = tide.sleep(10, { signal = ctl.signal })
    assert.equal(1, timers())
    local reason = {}
    ctl:abort(reason)
    assert.equal(0, timers())
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.equal(reason, err)
  end)

  it("rejects at once when the signal had already aborted", function()
    local ctl = tide.abort_controller()
    ctl:abort("early")
    local p = tide.sleep(10, { signal = ctl.signal })
    assert.equal("rejected", p:state())
    assert.equal(0, timers())
    assert.same({ false, "early" }, { tide.pawait(p) })
  end)

  it("an operation that finished first is unaffected", function()
    local ctl = tide.abort_controller()
    local p = tide.sleep(0.001, { signal = ctl.signal })
    p:await()
    ctl:abort("late")
    assert.equal("fulfilled", p:state())
  end)

  it("on_abort listeners run in order with the reason; removal works", function()
    local ctl = tide.abort_controller()
    local log = {}
    ctl.signal:on_abort(function(r) log[#log + 1] = "a:" .. r end)
    local remove = ctl.signal:on_abort(function(r) log[#log + 1] = "b:" .. r end)
    ctl.signal:on_abort(function(r) log[#log + 1] = "c:" .. r end)
    remove()
    ctl:abort("x")
    assert.same({ "a:x", "c:x" }, log)
    ctl.signal:on_abort(function(r) log[#log + 1] = "late:" .. r end)
    assert.same({ "a:x", "c:x", "late:x" }, log)
  end)

  it("a failing listener is reported and does not stop the others", function()
    local reported
    local prev = tide.on_unhandled(function(e) reported = e end)
    local ctl = tide.abort_controller()
    local ran = false
    ctl.signal:on_abort(function() error("listener broke", 0) end)
    ctl.signal:on_abort(function() ran = true end)
    ctl:abort()
    tide.on_unhandled(prev)
    assert.is_true(ran)
    assert.equal("listener broke", reported)
  end)

  it("throw_if_aborted raises the reason", function()
    local ctl = tide.abort_controller()
    ctl.signal:throw_if_aborted()
    ctl:abort("stop")
    assert.has_error(function() ctl.signal:throw_if_aborted() end, "stop")
  end)

  it("timeout_signal aborts with a timeout error, without keeping the loop alive", function()
    local s = tide.timeout_signal(0.01)
    local ok, err = tide.pawait(tide.sleep(10, { signal = s }))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"))
    assert.equal("timeout: timed out after 0.01 s", tostring(err))
    -- an idle timeout signal alone is no work: the loop ends at once
    local idle = tide.timeout_signal(0.2)
    local t0 = tide.now()
    tide.run()
    assert.is_true(tide.now() - t0 < 0.15 * helper.SLOW)
    assert.is_false(idle.aborted)
    tide.sleep(0.25):await() -- let it fire, so that it does not outlive the test
    assert.is_true(idle.aborted)
  end)

  it("any_signal follows the first of several signals", function()
    local a, b = tide.abort_controller(), tide.abort_controller()
    local s = tide.any_signal { a.signal, b.signal }
    local p = tide.sleep(10, { signal = s })
    b:abort("b went first")
    assert.same({ false, "b went first" }, { tide.pawait(p) })
    local c = tide.abort_controller()
    c:abort("already")
    assert.equal("already", tide.any_signal({ c.signal }).reason)
  end)

  it("refuses what is not a signal, before starting anything", function()
    assert.has_error(function() tide.sleep(1, { signal = {} }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got table)")
    assert.has_error(function() tide.sleep(1, { signal = "x" }) end,
      "bad option 'signal' to 'sleep' (tide.signal expected, got string)")
    assert.equal(0, timers())
    assert.has_error(function() tide.abort_controller().signal:on_abort(1) end,
      "bad argument #1 to 'on_abort' (function expected, got number)")
    assert.has_error(function() tide.timeout_signal(-1) end,
      "bad argument #1 to 'timeout_signal' (non-negative number expected, got -1)")
    assert.has_error(function() tide.any_signal { 1 } end,
      "bad argument #1 to 'any_signal' (tide.signal expected at index 1)")
  end)
end)

describe("tide.timeout", function()
  helper.setup()

  it("returns the work's result when it finishes in time", function()
    assert.equal("done", tide.timeout(1, function()
      tide.sleep(0.001):await()
      return "done"
    end):await())
    assert.equal(0, timers())
  end)

  it("cancels the work at its await and rejects with a timeout error", function()
    local child_saw, cleaned
    local p = tide.timeout(0.01, function()
      local _ <close> = setmetatable({}, { __close = function() cleaned = true end })
      local ok, err = tide.pawait(tide.sleep(10))
      child_saw = err
      assert(not ok)
      error(err, 0)
    end)
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"))
    assert.equal("timed out after 0.01 s", err.message)
    assert.equal(0.01, err.seconds)
    assert.is_true(tide.is_error(child_saw, "cancelled"))
    assert.equal(err, child_saw.reason)
    assert.is_true(cleaned)
    assert.equal(0, timers())
  end)

  it("waits for the cancelled work to finish its cleanup", function()
    local finished = false
    local p = tide.timeout(0.005, function()
      local _ <close> = setmetatable({}, { __close = function()
        tide.sleep(0.02):await()
        finished = true
      end })
      tide.sleep(10):await()
    end)
    assert.is_false((tide.pawait(p)))
    assert.is_true(finished)
  end)

  it("passes the work's own error through", function()
    local e = {}
    local ok, err = tide.pawait(tide.timeout(1, function() error(e) end))
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("with a promise, races it and cancels it if it is a task or operation", function()
    local op = tide.sleep(10)
    local ok, err = tide.pawait(tide.timeout(0.005, op))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"))
    assert.equal("rejected", op:state())
    assert.equal(0, timers())
    assert.equal(5, tide.timeout(1, tide.resolve(5)):await())
    local t = tide.spawn(function() tide.sleep(10):await() end)
    assert.is_false((tide.pawait(tide.timeout(0.005, t))))
    assert.is_false((tide.pawait(t)))
  end)

  it("a plain promise that times out is left alone", function()
    local p, resolve = tide.deferred()
    assert.is_false((tide.pawait(tide.timeout(0.001, p))))
    resolve("later")
    assert.equal("later", p:await())
  end)

  it("follows a signal too", function()
    local ctl = tide.abort_controller()
    local cancelled_child
    local p = tide.timeout(10, function()
      local _, err = tide.pawait(tide.sleep(10))
      cancelled_child = err
    end, { signal = ctl.signal })
    ctl:abort("user gave up")
    assert.same({ false, "user gave up" }, { tide.pawait(p) })
    tide.sleep(0):await()
    assert.is_true(tide.is_error(cancelled_child, "cancelled"))
  end)

  it("checks its arguments", function()
    assert.has_error(function() tide.timeout("1", function() end) end,
      "bad argument #1 to 'timeout' (non-negative number expected, got string)")
    assert.has_error(function() tide.timeout(0 / 0, function() end) end,
      "bad argument #1 to 'timeout' (non-negative number expected, got " .. tostring(0 / 0) .. ")")
  end)
end)
