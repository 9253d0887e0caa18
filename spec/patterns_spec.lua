-- Patterns: retry, breaker, semaphore, map.
local helper = require "spec.helper"
local tide = require "tide"
local backoff = require("tide.retry").backoff

describe("tide.retry", function()
  helper.setup()

  it("returns the first success", function()
    local calls = {}
    local v = tide.retry(function(attempt)
      calls[#calls + 1] = attempt
      if attempt < 3 then error("flaky", 0) end
      return "ok"
    end, { base = 0.001 }):await()
    assert.equal("ok", v)
    assert.same({ 1, 2, 3 }, calls)
  end)

  it("rejects with the last error, unchanged", function()
    local errs = {}
    local ok, err = tide.pawait(tide.retry(function(attempt)
      errs[attempt] = { attempt = attempt }
      error(errs[attempt])
    end, { attempts = 4, base = 0.001 }))
    assert.is_false(ok)
    assert.equal(errs[4], err)
  end)

  it("waits with exponential backoff and tells on_retry", function()
    local delays = {}
    local t0 = tide.now()
    tide.pawait(tide.retry(function() error("no", 0) end, {
      attempts = 3, base = 0.01, factor = 3, jitter = 0,
      on_retry = function(err, attempt, delay) delays[attempt] = { err, delay } end,
    }))
    assert.same({ { "no", 0.01 }, { "no", 0.03 } }, delays)
    assert.is_true(tide.now() - t0 >= 0.04)
  end)

  it("computes delays as min(max, base*factor^(k-1)) plus jitter", function()
    local o = { base = 1, factor = 2, max = 30, jitter = 0 }
    assert.equal(1, backoff(o, 1))
    assert.equal(8, backoff(o, 4))
    assert.equal(30, backoff(o, 10))
    o.jitter = 0.5
    for _ = 1, 50 do
      local d = backoff(o, 2)
      assert.is_true(d >= 2 and d <= 3)
    end
  end)

  it("should_retry can stop early", function()
    local n = 0
    local ok, err = tide.pawait(tide.retry(function()
      n = n + 1
      error(tide.error("http", "bad request", { status = 400 }))
    end, { base = 0.001, should_retry = function(e) return e.status >= 500 end }))
    assert.is_false(ok)
    assert.equal(400, err.status)
    assert.equal(1, n)
  end)

  it("lets attempts await, and is stopped by a signal in the middle of a wait", function()
    local ctl = tide.abort_controller()
    local attempts = 0
    local p = tide.retry(function()
      attempts = attempts + 1
      tide.sleep(0.001):await()
      error("down", 0)
    end, { base = 10, signal = ctl.signal })
    tide.sleep(0.01):await() -- the first attempt failed; retry now sleeps 10 s
    ctl:abort("shutdown")
    assert.same({ false, "shutdown" }, { tide.pawait(p) })
    assert.equal(1, attempts)
  end)

  it("a cancelled attempt is not retried", function()
    local attempts = 0
    local t = tide.spawn(function()
      return tide.retry(function()
        attempts = attempts + 1
        tide.sleep(10):await()
      end, { base = 0.001 }):await()
    end)
    tide.sleep(0):await()
    t:cancel()
    assert.is_false((tide.pawait(t)))
    assert.equal(1, attempts)
  end)

  it("checks its arguments", function()
    assert.has_error(function() tide.retry(1) end, "bad argument #1 to 'retry' (function expected, got number)")
    assert.has_error(function() tide.retry(print, 5) end,
      "bad argument #2 to 'retry' (options table expected, got number)")
    assert.equal("usage: tide.retry: unknown option 'tries'",
      tostring(select(2, pcall(tide.retry, print, { tries = 3 }))))
    assert.has_error(function() tide.retry(print, { attempts = 0 }) end,
      "bad option 'attempts' to 'retry' (positive integer expected)")
    assert.has_error(function() tide.retry(print, { base = -1 }) end,
      "bad option 'base' to 'retry' (non-negative number expected)")
    assert.has_error(function() tide.retry(print, { on_retry = 1 }) end,
      "bad option 'on_retry' to 'retry' (function expected, got number)")
  end)
end)

describe("tide.breaker", function()
  helper.setup()

  local function fail() error("down", 0) end
  local function succeed() return "up" end

  it("opens after threshold failures in a row and fails fast", function()
    local b = tide.breaker { threshold = 2, cooldown = 10 }
    assert.equal("closed", b.state)
    tide.pawait(b:call(fail))
    assert.equal("closed", b.state)
    tide.pawait(b:call(fail))
    assert.equal("open", b.state)
    local called = false
    local ok, err = tide.pawait(b:call(function() called = true end))
    assert.is_false(ok)
    assert.is_false(called)
    assert.is_true(tide.is_error(err, "open_circuit"))
    assert.matches("^open_circuit: circuit open after 2 failures; retry in %d+%.%d s$", tostring(err))
  end)

  it("a success resets the count", function()
    local b = tide.breaker { threshold = 2, cooldown = 10 }
    tide.pawait(b:call(fail))
    b:call(succeed):await()
    tide.pawait(b:call(fail))
    assert.equal("closed", b.state)
  end)

  it("after the cooldown lets one trial through: success closes it", function()
    local b = tide.breaker { threshold = 1, cooldown = 0.01 }
    tide.pawait(b:call(fail))
    tide.sleep(0.015):await()
    local gate, open = tide.deferred()
    local trial = b:call(function() gate:await(); return "up" end)
    assert.equal("half_open", b.state)
    assert.is_true(tide.is_error(select(2, tide.pawait(b:call(succeed))), "open_circuit"))
    open()
    assert.equal("up", trial:await())
    assert.equal("closed", b.state)
  end)

  it("reads as half open once the cooldown has passed", function()
    local b = tide.breaker { threshold = 1, cooldown = 0.01 }
    tide.pawait(b:call(fail))
    assert.equal("open", b.state)
    tide.sleep(0.015):await()
    assert.equal("half_open", b.state)
  end)

  it("a failed trial opens it again", function()
    local b = tide.breaker { threshold = 1, cooldown = 0.01 }
    tide.pawait(b:call(fail))
    tide.sleep(0.015):await()
    tide.pawait(b:call(fail))
    assert.equal("open", b.state)
  end)

  it("passes arguments and results, and errors unchanged", function()
    local b = tide.breaker()
    assert.equal(5, b:call(function(a, c) return a + c end, 2, 3):await())
    local e = {}
    assert.same({ false, e }, { tide.pawait(b:call(function() error(e) end)) })
    assert.equal("tide.breaker (closed, 1 failures)", tostring(b))
  end)

  it("a cancelled call does not count as a failure", function()
    local b = tide.breaker { threshold = 1 }
    local t = b:call(function() tide.sleep(10):await() end)
    t:cancel()
    tide.pawait(t)
    assert.equal("closed", b.state)
  end)

  it("checks its arguments", function()
    assert.has_error(function() tide.breaker { threshold = 0 } end,
      "bad option 'threshold' to 'breaker' (positive integer expected)")
    assert.has_error(function() tide.breaker { cooldown = -1 } end,
      "bad option 'cooldown' to 'breaker' (non-negative number expected)")
    assert.equal("usage: tide.breaker: unknown option 'limit'", tostring(select(2, pcall(tide.breaker, { limit = 1 }))))
    assert.has_error(function() tide.breaker():call(1) end, "bad argument #1 to 'call' (function expected, got number)")
  end)
end)

describe("tide.semaphore", function()
  helper.setup()

  it("lets at most n hold it, first come first served", function()
    local sem = tide.semaphore(2)
    local order, active, peak = {}, 0, 0
    local tasks = {}
    for i = 1, 6 do
      tasks[i] = sem:with(function()
        active = active + 1
        peak = math.max(peak, active)
        order[#order + 1] = i
        tide.sleep(0.002):await()
        active = active - 1
        return i
      end)
    end
    assert.same({ 1, 2, 3, 4, 5, 6, n = 6 }, tide.all(tasks):await())
    assert.equal(2, peak)
    assert.same({ 1, 2, 3, 4, 5, 6 }, order)
    assert.equal(2, sem.available)
  end)

  it("with releases when the function fails", function()
    local sem = tide.semaphore(1)
    assert.same({ false, "oops" }, { tide.pawait(sem:with(function() error("oops", 0) end)) })
    assert.equal(1, sem.available)
  end)

  it("acquire and release by hand", function()
    local sem = tide.semaphore(1)
    sem:acquire():await()
    local second = sem:acquire()
    assert.equal("pending", second:state())
    sem:release()
    second:await()
    sem:release()
    assert.equal(1, sem.available)
    assert.has_error(function() sem:release() end, "tide.semaphore: release without a matching acquire")
  end)

  it("an acquire abandoned through its signal gives up its place", function()
    local sem = tide.semaphore(1)
    sem:acquire():await()
    local ctl = tide.abort_controller()
    local waiting = sem:acquire { signal = ctl.signal }
    local next_in_line = sem:acquire()
    ctl:abort("no")
    assert.same({ false, "no" }, { tide.pawait(waiting) })
    sem:release()
    next_in_line:await()
    sem:release()
  end)

  it("a task cancelled while waiting in with() never runs it and leaks no permit", function()
    local sem = tide.semaphore(1)
    sem:acquire():await()
    local ran = false
    local p = sem:with(function() ran = true end)
    tide.sleep(0):await()
    p:cancel()
    tide.pawait(p)
    sem:release()
    tide.sleep(0):await()
    assert.is_false(ran)
    assert.equal(1, sem.available)
  end)

  it("checks its arguments", function()
    assert.has_error(function() tide.semaphore(0) end,
      "bad argument #1 to 'semaphore' (positive integer expected, got 0)")
    assert.has_error(function() tide.semaphore() end,
      "bad argument #1 to 'semaphore' (positive integer expected, got nil)")
    assert.has_error(function() tide.semaphore(1):with(5) end,
      "bad argument #1 to 'with' (function expected, got number)")
    assert.has_error(function() tide.semaphore(1).acquire() end,
      "bad argument #1 to 'acquire' (tide.semaphore expected; call it as sem:acquire(...))")
  end)
end)

describe("tide.map", function()
  helper.setup()

  it("keeps input order and respects the concurrency limit", function()
    local active, peak = 0, 0
    local r = tide.map({ 30, 10, 20, 5 }, function(ms, i)
      active = active + 1
      peak = math.max(peak, active)
      tide.sleep(ms / 1000):await()
      active = active - 1
      return ms * 10 + i
    end, { concurrency = 2 }):await()
    assert.same({ 301, 102, 203, 54, n = 4 }, r)
    assert.equal(2, peak)
  end)

  it("runs everything at once by default", function()
    local t0 = tide.now()
    tide.map({ 1, 2, 3, 4, 5 }, function() tide.sleep(0.02):await() end):await()
    assert.is_true(tide.now() - t0 < 0.08 * helper.SLOW)
  end)

  it("the first error cancels the rest and rejects", function()
    local cancelled = 0
    local ok, err = tide.pawait(tide.map({ 1, 2, 3 }, function(x)
      if x == 2 then
        tide.sleep(0.001):await()
        error("item 2 failed", 0)
      end
      local ok2 = tide.pawait(tide.sleep(10))
      if not ok2 then cancelled = cancelled + 1 end
    end))
    assert.is_false(ok)
    assert.equal("item 2 failed", err)
    assert.equal(2, cancelled)
  end)

  it("handles empty lists and holes", function()
    assert.same({ n = 0 }, tide.map({}, function() end):await())
    assert.same({ 1, nil, 3, n = 3 }, tide.map({ 1, nil, 3, n = 3 }, function(x) return x end):await())
  end)

  it("follows a signal", function()
    local ctl = tide.abort_controller()
    local p = tide.map({ 1, 2 }, function() tide.sleep(10):await() end, { signal = ctl.signal })
    ctl:abort("stop")
    assert.same({ false, "stop" }, { tide.pawait(p) })
  end)

  it("checks its arguments", function()
    assert.has_error(function() tide.map(1, print) end, "bad argument #1 to 'map' (table expected, got number)")
    assert.has_error(function() tide.map({}, 1) end, "bad argument #2 to 'map' (function expected, got number)")
    assert.has_error(function() tide.map({ 1 }, print, { concurrency = 0 }) end,
      "bad option 'concurrency' to 'map' (positive integer expected)")
    assert.equal("usage: tide.map: unknown option 'limit'",
      tostring(select(2, pcall(tide.map, {}, print, { limit = 1 }))))
    assert.has_error(function() tide.map({ n = "2" }, print) end,
      "bad argument #1 to 'map' (list length must be an integer from 0 to 268435456, got string)")
    assert.has_error(function() tide.map({ n = 1 << 40 }, print) end,
      "bad argument #1 to 'map' (list length must be an integer from 0 to 268435456, got 1099511627776)")
  end)
end)
