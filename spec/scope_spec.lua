-- tide.scope: structured concurrency. Children always finish before the
-- scope; the first error cancels the rest and is raised.
local helper = require "spec.helper"
local tide = require "tide"

describe("tide.scope(fn)", function()
  helper.setup()

  it("waits for every child and returns the body's value", function()
    local done = {}
    local v = tide.scope(function(s)
      for i = 1, 3 do
        s:spawn(function() tide.sleep(0.001 * i):await(); done[#done + 1] = i end)
      end
      return "body"
    end):await()
    assert.equal("body", v)
    assert.same({ 1, 2, 3 }, done)
  end)

  it("the first child error cancels the others and the body, and is raised", function()
    local e = { "first" }
    local cancelled = {}
    local p = tide.scope(function(s)
      s:spawn(function()
        local _, err = tide.pawait(tide.sleep(10))
        cancelled[#cancelled + 1] = err
      end)
      s:spawn(function() tide.sleep(0.002):await(); error(e) end)
      s:spawn(function() tide.sleep(0.004):await(); error("second") end)
      local _, err = tide.pawait(tide.sleep(10))
      cancelled[#cancelled + 1] = err
    end)
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.equal(e, err)
    assert.equal(2, #cancelled)
    for _, c in ipairs(cancelled) do
      assert.is_true(tide.is_error(c, "cancelled"))
      assert.equal(e, c.reason)
    end
  end)

  it("a body error cancels the children, waits for them, and is raised", function()
    local child_done = false
    local ok, err = tide.pawait(tide.scope(function(s)
      s:spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          tide.sleep(0.002):await()
          child_done = true
        end })
        tide.sleep(10):await()
      end)
      tide.sleep(0):await()
      error("body failed", 0)
    end))
    assert.is_false(ok)
    assert.equal("body failed", err)
    assert.is_true(child_done)
  end)

  it("counts a child that fails at once", function()
    local ok, err = tide.pawait(tide.scope(function(s)
      s:spawn(function() error("instant", 0) end)
      tide.sleep(10):await()
    end))
    assert.is_false(ok)
    assert.equal("instant", err)
  end)

  it("lets children spawn more children", function()
    local n = 0
    tide.scope(function(s)
      s:spawn(function()
        for _ = 1, 3 do s:spawn(function() tide.sleep(0.001):await(); n = n + 1 end) end
      end)
    end):await()
    assert.equal(3, n)
  end)

  it("is cancelled with its task: all children stop", function()
    local stopped = 0
    local p = tide.scope(function(s)
      for _ = 1, 3 do
        s:spawn(function()
          local _ <close> = setmetatable({}, { __close = function() stopped = stopped + 1 end })
          tide.sleep(10):await()
        end)
      end
      tide.sleep(10):await()
    end)
    tide.sleep(0):await()
    p:cancel("enough")
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "cancelled"))
    assert.equal(3, stopped)
  end)

  it("follows a signal", function()
    local ctl = tide.abort_controller()
    local p = tide.scope(function(s) s:spawn(function() tide.sleep(10):await() end) end, { signal = ctl.signal })
    ctl:abort("stop")
    assert.same({ false, "stop" }, { tide.pawait(p) })
  end)

  it("refuses to spawn once closed, and checks its arguments", function()
    local scope
    tide.scope(function(s) scope = s end):await()
    assert.has_error(function() scope:spawn(function() end) end,
      "this tide.scope is closed: spawn children before it ends")
    assert.has_error(function() tide.scope(1) end, "bad argument #1 to 'scope' (function expected, got number)")
    assert.has_error(function() scope.spawn(function() end) end,
      "bad argument #1 to 'spawn' (tide.scope expected; call it as scope:spawn(...))")
  end)
end)

describe("local s <close> = tide.scope()", function()
  helper.setup()

  it("waits for the children when the block ends", function()
    local done = 0
    helper.run(function()
      do
        local s <close> = tide.scope()
        for _ = 1, 4 do s:spawn(function() tide.sleep(0.002):await(); done = done + 1 end) end
      end
      assert.equal(4, done)
    end)
  end)

  it("raises the first child error at the end of the block", function()
    helper.run(function()
      local ok, err = pcall(function()
        local s <close> = tide.scope()
        s:spawn(function() tide.sleep(0.001):await(); error("child", 0) end)
        tide.sleep(10):await() -- cancelled when the child fails
      end)
      assert.is_false(ok)
      assert.equal("child", err)
    end)
  end)

  it("cancels the children when the block ends with an error", function()
    local child_err
    helper.run(function()
      local ok, err = pcall(function()
        local s <close> = tide.scope()
        s:spawn(function() child_err = select(2, tide.pawait(tide.sleep(10))) end)
        tide.sleep(0):await()
        error("block failed", 0)
      end)
      assert.is_false(ok)
      assert.equal("block failed", err)
    end)
    assert.is_true(tide.is_error(child_err, "cancelled"))
  end)

  it("passes every cancel of the waiting block on to the children still live", function()
    -- A child that swallows the scope's first cancel and ends by returning
    -- a thenable that never settles: its task stays pending after its body
    -- returned, until a later cancel of the block reaches it.
    local never = setmetatable({ ["then"] = function() end }, {})
    local child
    local outer = tide.spawn(function()
      local s <close> = tide.scope()
      child = s:spawn(function()
        tide.pawait(tide.sleep(10))
        return never
      end)
      s:spawn(function() error("first", 0) end)
    end)
    helper.run(function()
      tide.sleep(0.01):await()
      assert.equal("pending", outer:state())
      outer:cancel()
      local ok, err = tide.pawait(outer)
      assert.is_false(ok)
      assert.equal("first", err)
    end)
    assert.equal("rejected", child:state())
  end)

  it("works at the top level, outside any task", function()
    local done = 0
    do
      local s <close> = tide.scope()
      s:spawn(function() tide.sleep(0.001):await(); done = done + 1 end)
      s:spawn(function() tide.sleep(0.002):await(); done = done + 1 end)
    end
    assert.equal(2, done)
  end)
end)
