-- Regressions of issue 15 (hostile input) in tasks and reports: a task's
-- coroutine closed from outside, a replaced table.sort, a reason whose
-- __tostring raises, and the cost of cancelling a task.
local helper = require "spec.helper"
local tide = require "tide"

describe("a task whose coroutine was closed with coroutine.close", function()
  helper.setup()

  -- The crash took the process down: run it in a child so busted survives.
  it("settles with a usage error when cancelled, without crashing", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.run(function()
        local co
        local t = tide.spawn(function()
          co = coroutine.running()
          tide.sleep(10):await()
        end)
        assert(coroutine.close(co))
        print("tasks", #tide.tasks(), tide.tasks()[2].awaiting)
        print("cancel", t:cancel())
        local ok, err = tide.pawait(t)
        print("settled", ok, tide.is_error(err, "usage"), err.message)
      end)
      print("done")
    ]])
    assert.equal(0, status, out)
    assert.matches("tasks\t2\tnil", out, 1, true)
    assert.matches("cancel\ttrue", out, 1, true)
    assert.matches("settled\tfalse\ttrue\ta tide task's coroutine was closed from outside "
      .. "(coroutine.close) while it waited; cancel the task instead", out, 1, true)
    assert.matches("done", out, 1, true)
  end)

  it("settles with the same error when what it awaited settles", function()
    local co
    local p, resolve = tide.deferred()
    local t = tide.spawn(function()
      co = coroutine.running()
      p:await()
    end)
    assert.is_true(coroutine.close(co))
    resolve(1)
    local err = helper.rejection(t)
    assert.is_true(tide.is_error(err, "usage"))
    assert.matches("closed from outside", err.message, 1, true)
  end)

  -- A wakeup names the task's coroutine without holding it. Here one is
  -- queued (what the task awaits settles), and a microtask queued before it
  -- closes the coroutine, cancels the task (which ends it, letting the
  -- coroutine go) and collects: the wakeup then read the freed coroutine
  -- (heap-use-after-free under ASan).
  it("keeps a wakeup already queued for it from reading a freed coroutine", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.run(function()
        local co
        local p, resolve = tide.deferred()
        local t = tide.spawn(function()
          co = coroutine.running()
          p:await()
        end)
        tide.queue_microtask(function()
          assert(coroutine.close(co))
          co = nil
          print("cancel", t:cancel())
          collectgarbage()
          collectgarbage()
        end)
        resolve(1) -- queues the task's wakeup, after the microtask
        local ok, err = tide.pawait(t)
        print("settled", ok, tide.is_error(err, "usage"))
        collectgarbage()
        tide.sleep(0):await()
      end)
      print("done")
    ]])
    assert.equal(0, status, out)
    assert.matches("cancel\ttrue\nsettled\tfalse\ttrue\ndone\n", out, 1, true)
  end)

  -- Ended by the cancellation, the task is still listed as a reaction of the
  -- promise it awaited (its await frame is gone, so nothing unsubscribed
  -- it). When that promise settled, a wakeup was queued for the ended
  -- task's coroutine, which nothing held any more: a collection before the
  -- wakeup ran freed it.
  it("queues no wakeup for it once it has ended", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.run(function()
        local co
        local p, resolve = tide.deferred()
        local t = tide.spawn(function()
          co = coroutine.running()
          p:await()
        end)
        assert(coroutine.close(co))
        co = nil
        print("cancel", t:cancel())
        local ok, err = tide.pawait(t)
        print("settled", ok, tide.is_error(err, "usage"))
        tide.queue_microtask(function()
          collectgarbage()
          collectgarbage()
        end)
        resolve(1) -- the wakeup it would queue comes after the collection
        tide.sleep(0):await()
        collectgarbage()
      end)
      print("done")
    ]])
    assert.equal(0, status, out)
    assert.matches("cancel\ttrue\nsettled\tfalse\ttrue\ndone\n", out, 1, true)
  end)
end)

describe("tide.tasks", function()
  helper.setup()

  -- With a sort that put a key naming no task in the list, tide.tasks()
  -- dereferenced NULL: run it in a child.
  it("does not use the global table.sort", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.run(function()
        local t = tide.spawn(function() tide.sleep(0.01):await() end)
        table.sort = function(list) list[1] = "not a ref" end
        local list = tide.tasks()
        print("replaced", #list, list[2].task == t)
        table.sort = nil
        print("removed", #tide.tasks())
        table = nil
        print("no table library", #tide.tasks())
        t:await()
      end)
    ]])
    assert.equal(0, status, out)
    assert.matches("replaced\t2\ttrue\nremoved\t2\nno table library\t2\n", out)
  end)
end)

describe("reporting an unhandled rejection", function()
  helper.setup()

  it("never fails, even when the reason's __tostring raises", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      local bad = setmetatable({}, { __tostring = function(self) error(self) end })
      local ok, res = pcall(tide.run, function()
        tide.spawn(function() error(bad) end)
        tide.sleep(0.01):await()
        return "main finished"
      end)
      print("run", ok, res)
      -- A handler that itself raises such a value.
      tide.on_unhandled(function() error(bad) end)
      ok, res = pcall(tide.run, function()
        tide.spawn(function() error("plain") end)
        tide.sleep(0.01):await()
        return "main finished again"
      end)
      print("run", ok, res)
    ]])
    assert.equal(0, status, out)
    -- The default handler fails the script (tide.run raises once the
    -- main task has stopped); a handler of one's own replaces that policy.
    assert.matches("run\tfalse\tunhandled: the script stops: an unhandled rejection (reported above)\n" ..
      "caused by: (a table whose __tostring raised an error)\n", out, 1, true)
    assert.matches("run\ttrue\tmain finished again\n", out, 1, true)
    assert.matches("tide: unhandled rejection: (a table whose __tostring raised an error)", out, 1, true)
    assert.matches("tide: the on_unhandled handler raised: (a table whose __tostring raised an error)",
      out, 1, true)
  end)
end)

describe("cancelling a task", function()
  helper.setup()

  local function spawn_many(n, cancel)
    local t0 = os.clock()
    for i = 1, n do
      local p, resolve = tide.deferred()
      local t = tide.spawn(function() p:await() end)
      if cancel then t:cancel() else resolve(i) end
      if i % 1000 == 0 then tide.sleep(0):await() end
    end
    tide.sleep(0):await()
    return os.clock() - t0
  end

  -- It cost 20x a resolve: every quiet cancellation built a traceback, and
  -- luaL_traceback searches package.loaded for every frame.
  -- A full collection at every await (GC stress) or valgrind drowns what
  -- is measured here.
  local timed = os.getenv("TIDE_GC_STRESS") == nil and helper.SLOW < 10
  ;(timed and it or pending)("costs less than 5 times spawning and resolving", function()
    helper.run(function()
      spawn_many(2000, true) -- warm up
      local resolved = spawn_many(20000, false)
      local cancelled = spawn_many(20000, true)
      assert.is_true(cancelled < 5 * resolved,
        ("spawn+cancel %.3f s, spawn+resolve %.3f s"):format(cancelled, resolved))
    end, 30 * helper.SLOW)
  end)

  it("keeps no traceback for a task ended by its own cancellation", function()
    local t = tide.spawn(function() tide.sleep(10):await() end)
    t:cancel()
    assert.is_true(tide.is_error(helper.rejection(t), "cancelled"))
    assert.is_nil(t:traceback())
    -- A different error raised while handling the cancellation is a failure.
    local u = tide.spawn(function()
      tide.pawait(tide.sleep(10))
      error("cleanup failed")
    end)
    u:cancel()
    helper.rejection(u)
    assert.matches("stack traceback:", u:traceback(), 1, true)
  end)
end)
