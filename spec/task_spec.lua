-- Tasks and await in every context DESIGN.md names: inside a task, at the
-- top level, in loop callbacks, where Lua cannot yield; tide.run, deadlock
-- detection, introspection, and unhandled rejections.
local helper = require "spec.helper"
local tide = require "tide"

describe("tide.spawn", function()
  helper.setup()

  it("runs the function synchronously up to its first suspension", function()
    local log = {}
    local t = tide.spawn(function()
      log[#log + 1] = "start"
      tide.sleep(0):await()
      log[#log + 1] = "end"
    end)
    log[#log + 1] = "spawned"
    assert.same({ "start", "spawned" }, log)
    tide.await(t)
    assert.same({ "start", "spawned", "end" }, log)
  end)

  it("returns a task that is a promise of the first return value", function()
    local t = tide.spawn(function(a, b) return a + b, "ignored" end, 2, 3)
    assert.equal("fulfilled", t:state())
    assert.equal(5, tide.await(t))
    assert.equal("tide.task (fulfilled: 5)", tostring(t))
  end)

  it("passes nil arguments through", function()
    local t = tide.spawn(function(...) return select("#", ...) end, nil, nil, 3)
    assert.equal(3, tide.await(t))
  end)

  it("rejects with the error raised by the function, unchanged", function()
    local e = { code = 7 }
    local t = tide.spawn(function() error(e) end)
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.equal(e, err)
    local t2 = tide.spawn(function() error("plain", 0) end)
    assert.same({ false, "plain" }, { tide.pawait(t2) })
  end)

  it("shows its state in tostring", function()
    local p, resolve = tide.deferred()
    local t = tide.spawn(function() return p:await() end)
    assert.equal("tide.task (waiting)", tostring(t))
    local inner
    local t2 = tide.spawn(function() inner = tostring(tide.current()) end)
    assert.equal("tide.task (running)", inner)
    tide.await(t2)
    resolve("x")
    assert.equal("x", tide.await(t))
  end)

  it("accepts callable tables", function()
    local callable = setmetatable({}, { __call = function(_, x) return x * 2 end })
    assert.equal(8, tide.await(tide.spawn(callable, 4)))
  end)

  it("refuses what cannot be called", function()
    assert.has_error(function() tide.spawn(42) end, "bad argument #1 to 'spawn' (function expected, got number)")
  end)

  it("fails a task that calls coroutine.yield directly, with a clear message", function()
    local closed = false
    local t = tide.spawn(function()
      local _ <close> = setmetatable({}, { __close = function() closed = true end })
      coroutine.yield()
    end)
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "usage"))
    assert.matches("coroutine.yield was called directly inside a tide task", err.message, 1, true)
    assert.is_true(closed)
  end)

  it("tide.async makes a function that spawns on each call", function()
    local double = tide.async(function(x) tide.sleep(0):await(); return x * 2 end)
    local a, b = double(1), double(2)
    assert.same({ 2, 4, n = 2 }, tide.all { a, b }:await())
    assert.has_error(function() tide.async(1) end, "bad argument #1 to 'async' (function expected, got number)")
  end)

  it("tide.current gives the running task, nil outside", function()
    assert.is_nil(tide.current())
    local t
    t = tide.spawn(function() return { tide.current() } end)
    assert.equal(t, tide.await(t)[1])
    -- returning the task itself would resolve it with itself: a type error
    local t2
    t2 = tide.spawn(function() tide.sleep(0):await(); return t2 end)
    local ok, err = tide.pawait(t2)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "type"))
  end)
end)

describe("tide.await inside a task", function()
  helper.setup()

  it("returns the fulfilled value", function()
    helper.run(function()
      local p, resolve = tide.deferred()
      tide.set_timeout(function() resolve({ 1, 2 }) end, 0.001)
      assert.same({ 1, 2 }, tide.await(p))
      assert.same({ 1, 2 }, p:await())
    end)
  end)

  it("raises the rejection reason itself, not a copy or a string", function()
    helper.run(function()
      local reason = setmetatable({}, { __tostring = function() return "custom" end })
      local p, _, reject = tide.deferred()
      tide.set_timeout(function() reject(reason) end, 0.001)
      local ok, err = pcall(tide.await, p)
      assert.is_false(ok)
      assert.equal(reason, err)
    end)
  end)

  it("returns at once for a settled promise, without a loop turn", function()
    helper.run(function()
      local other_ran = false
      tide.spawn(function() tide.sleep(0):await(); other_ran = true end)
      assert.equal(3, tide.resolve(3):await())
      assert.is_false(other_ran)
    end)
  end)

  it("returns non-promises as they are", function()
    helper.run(function()
      local t = {}
      assert.equal(t, tide.await(t))
      assert.equal(5, tide.await(5))
      assert.is_nil(tide.await(nil))
      assert.same({ true, 5 }, { tide.pawait(5) })
    end)
  end)

  it("adopts thenables", function()
    helper.run(function()
      local thenable = setmetatable({}, { __index = {
        next = function(_, ok) tide.set_timeout(function() ok("from thenable") end, 0.001) end } })
      assert.equal("from thenable", tide.await(thenable))
    end)
  end)

  it("pawait gives true, value or false, reason", function()
    helper.run(function()
      assert.same({ true, 1 }, { tide.pawait(tide.sleep(0):next(function() return 1 end)) })
      local e = {}
      local ok, err = tide.pawait(tide.sleep(0):next(function() error(e) end))
      assert.is_false(ok)
      assert.equal(e, err)
    end)
  end)

  it("lets pcall and <close> see errors raised at an await", function()
    helper.run(function()
      local closed
      local ok, err = pcall(function()
        local _ <close> = setmetatable({}, { __close = function(_, e) closed = e end })
        tide.reject("boom"):await()
      end)
      assert.is_false(ok)
      assert.equal("boom", err)
      assert.equal("boom", closed)
    end)
  end)

  it("may await inside <close> handlers while an error unwinds", function()
    local log = {}
    local t = tide.spawn(function()
      local _ <close> = setmetatable({}, { __close = function()
        tide.sleep(0.001):await()
        log[#log + 1] = "cleaned up"
      end })
      tide.sleep(0):await()
      error("failed", 0)
    end)
    assert.same({ false, "failed" }, { tide.pawait(t) })
    assert.same({ "cleaned up" }, log)
  end)

  it("refuses to await the task itself", function()
    local t
    t = tide.spawn(function()
      tide.sleep(0):await()
      return select(2, pcall(tide.await, t))
    end)
    local err = tide.await(t)
    assert.is_true(tide.is_error(err, "usage"))
    assert.equal("a task cannot await itself (it would never finish)", err.message)
  end)

  local cannot_wait = "tide.await cannot wait here: this code runs inside a C function that Lua cannot "
    .. "suspend (a table.sort comparator, a __tostring or __gc metamethod, a string.gsub callback, ...); "
    .. "await before or after it"

  it("gives a clear error in a table.sort comparator", function()
    helper.run(function()
      local p = tide.sleep(0.001)
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b) p:await(); return a < b end)
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "usage"))
      assert.equal(cannot_wait, err.message)
      p:await()
    end)
  end)

  it("gives a clear error in a __tostring metamethod", function()
    helper.run(function()
      local p = tide.sleep(0.001)
      local obj = setmetatable({}, { __tostring = function() p:await(); return "x" end })
      local ok, err = pcall(tostring, obj)
      assert.is_false(ok)
      assert.equal(cannot_wait, err.message)
      p:await()
    end)
  end)

  it("gives a clear error in a string.gsub callback", function()
    helper.run(function()
      local p = tide.sleep(0.001)
      local ok, err = pcall(string.gsub, "abc", "%w", function() p:await() end)
      assert.is_false(ok)
      assert.equal(cannot_wait, err.message)
      p:await()
    end)
  end)

  it("gives a clear error in a plain coroutine resumed from a task", function()
    helper.run(function()
      local p = tide.sleep(0.001)
      local co = coroutine.create(function() return p:await() end)
      local ok, err = coroutine.resume(co)
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "usage"))
      assert.matches("the event loop is running but this code is not in a tide task", err.message, 1, true)
      p:await()
    end)
  end)

  it("refuses a coroutine.resume of a task's own coroutine: the task ends with a usage error", function()
    local co
    local t = tide.spawn(function()
      co = coroutine.running()
      tide.sleep(0.01):await()
      return "finished"
    end)
    coroutine.resume(co) -- tide resumes its tasks itself
    local ok, err = tide.pawait(t)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "usage"), tostring(err))
    assert.matches("resumed with coroutine.resume", err.message, 1, true)
    assert.equal("dead", coroutine.status(co))
    tide.sleep(0.02):await() -- its sleep ends without waking anything
  end)
end)

describe("tide.await outside a task", function()
  helper.setup()

  it("runs the loop at the top level until the promise settles", function()
    local t0 = tide.now()
    assert.is_nil(tide.sleep(0.02):await())
    assert.is_true(tide.now() - t0 >= 0.02)
    assert.equal(7, tide.await(tide.spawn(function() tide.sleep(0.001):await(); return 7 end)))
  end)

  it("raises the rejection at the top level", function()
    local e = {}
    local ok, err = pcall(tide.await, tide.sleep(0.001):next(function() error(e) end))
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("works inside a plain coroutine at the top level", function()
    local co = coroutine.wrap(function() return tide.sleep(0.001):next(function() return "co" end):await() end)
    assert.equal("co", co())
  end)

  it("errors clearly in a loop callback", function()
    local msg
    local p = tide.sleep(1)
    tide.set_timeout(function()
      local ok, err = pcall(tide.await, p)
      assert(not ok)
      msg = err.message
      p:await() -- unreachable
    end, 0.001)
    local unhandled = {}
    local prev = tide.on_unhandled(function(e) unhandled[#unhandled + 1] = e end)
    tide.sleep(0.005):await()
    tide.on_unhandled(prev)
    assert.equal("tide.await cannot wait here: the event loop is running but this code is not in a tide task "
      .. "(a callback, a next() handler, or a plain coroutine); run it with tide.spawn and await inside", msg)
    assert.equal(1, #unhandled)
    tide.timeout(0, p):catch(function() end)
  end)

  it("rejects the derived promise when a next() handler awaits", function()
    local gate = tide.sleep(0.001)
    local ok, err = tide.pawait(tide.resolve(1):next(function() return gate:await() end))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "usage"))
    gate:await()
  end)

  it("raises a deadlock error when nothing can settle the promise", function()
    local p = tide.promise(function() end)
    local ok, err = pcall(tide.await, p)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "deadlock"))
    assert.equal("tide.await is waiting on tide.promise (pending), but no work is left that could settle it",
      err.message)
  end)

  it("does not count unref'd timers as work", function()
    local t = tide.set_timeout(function() end, 10):unref()
    local ok, err = pcall(tide.await, tide.promise(function() end))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "deadlock"))
    t:cancel()
  end)
end)

describe("tide.run", function()
  helper.setup()

  it("returns the main task's value and passes arguments", function()
    assert.equal("ab", tide.run(function(a, b) tide.sleep(0):await(); return a .. b end, "a", "b"))
  end)

  it("raises the main task's error unchanged", function()
    local e = {}
    local ok, err = pcall(tide.run, function() tide.sleep(0):await(); error(e) end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("returns as soon as the main task is done, leaving other tasks for later", function()
    local done = false
    tide.run(function() tide.spawn(function() tide.sleep(0.01):await(); done = true end) end)
    assert.is_false(done)
    tide.run()
    assert.is_true(done)
  end)

  it("with no function drives the loop until no work is left", function()
    local n = 0
    for i = 1, 5 do tide.set_timeout(function() n = n + i end, 0.001 * i) end
    tide.run()
    assert.equal(15, n)
  end)

  it("detects a main task that can never finish", function()
    local ok, err = pcall(tide.run, function() tide.promise(function() end):await() end)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "deadlock"))
    assert.matches("^tide.run's main task is waiting on tide.task %(waiting%)", err.message)
    for _, t in ipairs(tide.tasks()) do t.task:cancel() end
  end)

  it("says so at exit when tasks never finished", function()
    local out = helper.lua([[
      local tide = require "tide"
      tide.run(function() tide.spawn(function() tide.sleep(10):await() end) end)
    ]])
    assert.matches("tide: 1 task%(s%) never finished: the loop stopped before they did", out)
  end)

  it("cannot be nested inside a task or a callback", function()
    local msg = tide.run(function()
      return helper.misuse(function() tide.run(function() end) end, "usage")
    end)
    assert.equal("tide.run cannot be called inside a task: use tide.await", msg)
    local cb_msg
    tide.set_timeout(function() cb_msg = helper.misuse(function() tide.run() end, "usage") end, 0)
    tide.run()
    assert.equal("tide.run cannot be called while the event loop is running (loops do not nest): "
      .. "start the work with tide.spawn instead", cb_msg)
  end)
end)

describe("introspection", function()
  helper.setup()

  it("tide.tasks lists live tasks with status, awaited promise and location", function()
    local p, resolve = tide.deferred()
    local t = tide.spawn(function()
      p:await() -- the line the listing points at
    end)
    local list = tide.tasks()
    assert.equal(1, #list)
    assert.equal(t, list[1].task)
    assert.equal("waiting", list[1].status)
    assert.equal(p, list[1].awaiting)
    assert.matches("task_spec.lua:%d+$", list[1].where)
    resolve()
    tide.await(t)
    assert.equal(0, #tide.tasks())
  end)

  it("tide.tasks lists the oldest first, also when finished tasks' slots are reused", function()
    local resolves, tasks = {}, {}
    local function spawn(i)
      local p
      p, resolves[i] = tide.deferred()
      tasks[i] = tide.spawn(function() p:await() end)
    end
    for i = 1, 40 do spawn(i) end
    -- Every other one ends: the next ones get the slots they leave.
    for i = 1, 40, 2 do
      resolves[i]()
      tide.await(tasks[i])
    end
    for i = 41, 60 do spawn(i) end
    local index = {}
    for i, t in ipairs(tasks) do index[t] = i end
    local function order(list, kind)
      local got = {}
      for _, e in ipairs(list) do
        if e.kind == kind then got[#got + 1] = index[e.task] end
      end
      return got
    end
    local want = {}
    for i = 2, 40, 2 do want[#want + 1] = i end
    for i = 41, 60 do want[#want + 1] = i end
    assert.same(want, order(tide.tasks(), "task"))
    assert.same(want, order(tide.handles(), "task"))
    for i = 2, 60 do if i > 40 or i % 2 == 0 then resolves[i]() end end
    for _, t in ipairs(tasks) do tide.await(t) end
  end)

  it("task:traceback shows where a failed task failed", function()
    local function deep() error("deep failure") end
    local t = tide.spawn(function() tide.sleep(0):await(); deep() end)
    tide.pawait(t)
    local tb = t:traceback()
    assert.matches("stack traceback:", tb, 1, true)
    assert.matches("'deep'", tb, 1, true)
    assert.is_nil(tide.spawn(function() end):traceback())
  end)
end)

describe("unhandled rejections", function()
  helper.setup()

  it("are reported once to on_unhandled with the reason and promise", function()
    local seen = {}
    local prev = tide.on_unhandled(function(reason, p) seen[#seen + 1] = { reason, p } end)
    local p = tide.reject("lost")
    tide.sleep(0):await()
    tide.sleep(0):await()
    tide.on_unhandled(prev)
    assert.equal(1, #seen)
    assert.equal("lost", seen[1][1])
    assert.equal(p, seen[1][2])
  end)

  it("are not reported when a handler is attached before the queue drains", function()
    local seen = 0
    local prev = tide.on_unhandled(function() seen = seen + 1 end)
    local p = tide.reject("caught")
    p:catch(function() end)
    tide.spawn(function() error("awaited", 0) end):catch(function() end)
    tide.sleep(0):await()
    tide.on_unhandled(prev)
    assert.equal(0, seen)
  end)

  it("include failed tasks nobody awaited", function()
    local seen
    local prev = tide.on_unhandled(function(reason, p) seen = { reason, p } end)
    local t = tide.spawn(function() tide.sleep(0):await(); error("task failed", 0) end)
    tide.sleep(0.005):await()
    tide.on_unhandled(prev)
    assert.same({ "task failed", t }, seen)
  end)

  it("on_unhandled returns the previous handler; nil restores the default", function()
    local a = function() end
    local default = tide.on_unhandled(a)
    assert.is_function(default)
    assert.equal(a, tide.on_unhandled(nil))
    assert.equal(default ~= nil, true)
    assert.has_error(function() tide.on_unhandled(1) end,
      "bad argument #1 to 'on_unhandled' (function expected, got number)")
  end)

  it("a handler whose reports cause new rejections does not stall the loop", function()
    local reports = 0
    local prev = tide.on_unhandled(function()
      reports = reports + 1
      tide.spawn(function() error("again", 0) end) -- unhandled too: reported later
    end)
    tide.spawn(function() error("first", 0) end)
    -- Timers still fire while the handler keeps finding new rejections.
    local ok, err = tide.pawait(tide.timeout(0.02, tide.sleep(0.05)))
    tide.on_unhandled(function() end)
    tide.sleep(0):await()
    tide.sleep(0):await()
    tide.on_unhandled(prev)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "timeout"), tostring(err))
    assert.is_true(reports >= 2, "reports: " .. reports)
  end)

  it("go to stderr by default, with the task's traceback, and fail the script", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      local function explode() error("kaboom") end
      tide.spawn(function() tide.sleep(0):await(); explode() end)
      tide.run()
      print("still running")
    ]])
    assert.equal(1, status)
    assert.matches("tide: unhandled rejection: [^\n]*kaboom", out)
    assert.matches("stack traceback:", out, 1, true)
    assert.matches("explode", out, 1, true)
    assert.is_nil(out:find("still running", 1, true))
  end)
end)

describe("Ctrl-C", function()
  helper.setup()

  it("cancels what tide.run waits for, runs its cleanup, and a second one exits", function()
    local out = helper.lua([[
      local tide = require "tide"
      local pid = io.open("/proc/self/stat"):read("l"):match("^%d+")
      -- Ctrl-C from outside after a delay (system() itself ignores SIGINT
      -- while its child runs, so the kill must not happen inside it).
      local function ctrl_c_in(s) os.execute(("(sleep %g; kill -INT %s) &"):format(s, pid)) end
      ctrl_c_in(0.2)
      local ok, err = pcall(tide.run, function()
        local _ <close> = setmetatable({}, { __close = function() print("cleanup ran") end })
        tide.sleep(30):await()
      end)
      print("run raised", ok, tide.is_error(err, "cancelled"), err and err.reason)
      -- a second Ctrl-C while the cleanup still waits ends the process
      ctrl_c_in(0.2)
      ctrl_c_in(0.6)
      pcall(tide.run, function()
        local _ <close> = setmetatable({}, { __close = function() tide.sleep(30):await() end })
        tide.sleep(30):await()
      end)
      print("not reached")
    ]])
    assert.matches("cleanup ran", out, 1, true)
    assert.matches("run raised\tfalse\ttrue\tinterrupted", out, 1, true)
    assert.not_matches("not reached", out, 1, true)
  end)

  it("returns the REPL to its prompt", function()
    local out = helper.repl({
      "tide = require 'tide'",
      "print(pcall(tide.await, tide.sleep(30)))",
      "print('back at the prompt')",
    }, 2) -- Ctrl-C while the second line waits
    assert.matches("false\tcancelled: interrupted %(Ctrl%-C%)", out)
    assert.matches("back at the prompt", out, 1, true)
  end)
end)
