-- The promise API beyond Promises/A+ (see aplus_spec.lua for that):
-- constructors, catch/finally, state and tostring, microtask order, misuse.
local helper = require "spec.helper"
local tide = require "tide"

describe("promise constructors", function()
  helper.setup()

  it("tide.promise runs the executor at once with resolve and reject", function()
    local ran = false
    local p = tide.promise(function(resolve, reject)
      ran = true
      assert.is_function(resolve)
      assert.is_function(reject)
      resolve("v")
    end)
    assert.is_true(ran)
    assert.equal("fulfilled", p:state())
    assert.equal("v", p:await())
  end)

  it("an executor that raises rejects, unless it resolved first", function()
    local e = {}
    assert.same({ false, e }, { tide.pawait(tide.promise(function() error(e) end)) })
    local p = tide.promise(function(resolve) resolve(1); error("ignored") end)
    assert.equal(1, p:await())
  end)

  it("an executor cannot await: it rejects with a usage error", function()
    helper.run(function()
      local gate = tide.sleep(0.001)
      local ok, err = tide.pawait(tide.promise(function() gate:await() end))
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "usage"))
      gate:await()
    end)
  end)

  it("tide.promise wants something callable", function()
    assert.has_error(function() tide.promise() end, "bad argument #1 to 'promise' (function expected, got no value)")
    assert.has_error(function() tide.promise({}) end, "bad argument #1 to 'promise' (function expected, got table)")
  end)

  it("tide.deferred's functions act once", function()
    local p, resolve, reject = tide.deferred()
    resolve(1)
    resolve(2)
    reject("no")
    assert.equal(1, p:await())
    local q, res2, rej2 = tide.deferred()
    rej2("first")
    res2("late")
    assert.same({ false, "first" }, { tide.pawait(q) })
  end)

  it("resolving with a promise adopts it; the resolvers are then spent", function()
    local inner, resolve_inner = tide.deferred()
    local p, resolve, reject = tide.deferred()
    resolve(inner)
    reject("too late")
    assert.equal("pending", p:state())
    resolve_inner("inner value")
    assert.equal("inner value", p:await())
  end)

  it("tide.resolve returns a tide promise itself, adopts thenables, wraps values", function()
    local p = tide.resolve(1)
    assert.equal(p, tide.resolve(p))
    local t = tide.spawn(function() return 2 end)
    assert.equal(t, tide.resolve(t))
    local plain = { next = function() error("plain tables are values") end }
    assert.equal(plain, tide.resolve(plain):await())
    local thenable = setmetatable({}, { __index = { next = function(_, ok) ok("adopted") end } })
    assert.equal("adopted", tide.resolve(thenable):await())
  end)

  it("prefers a thenable's `next` to its `then`", function()
    local both = setmetatable({}, { __index = {
      next = function(_, ok) ok("next") end,
      ["then"] = function(_, ok) ok("then") end,
    } })
    assert.equal("next", tide.resolve(both):await())
    local only_then = setmetatable({}, { __index = { ["then"] = function(_, ok) ok("then") end } })
    assert.equal("then", tide.resolve(only_then):await())
  end)

  it("a userdata without __index is a value, not an error", function()
    local ud = io.stdout
    assert.equal(ud, tide.resolve(ud):await())
  end)

  it("tide.reject makes a rejected promise with the reason as given", function()
    local e = setmetatable({}, {})
    local p = tide.reject(e)
    assert.equal("rejected", p:state())
    assert.same({ false, e }, { tide.pawait(p) })
  end)

  it("resolving a promise with itself rejects with a type error", function()
    local p, resolve = tide.deferred()
    resolve(p)
    local ok, err = tide.pawait(p)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "type"))
    assert.equal("type: a promise cannot be resolved with itself", tostring(err))
  end)
end)

describe("next, catch, finally", function()
  helper.setup()

  it("next passes values and errors through when it has no handler", function()
    local e = {}
    assert.equal(3, tide.resolve(3):next():next(nil, function() end):await())
    assert.same({ false, e }, { tide.pawait(tide.reject(e):next(function() end)) })
  end)

  it("next ignores handlers that are not callable", function()
    assert.equal(3, tide.resolve(3):next(5, "x"):await())
  end)

  it("catch handles rejections only", function()
    local handled = tide.reject("e"):catch(function(e) return "handled " .. e end)
    assert.equal("handled e", handled:await())
    assert.equal(1, tide.resolve(1):catch(function() return 2 end):await())
  end)

  it("finally checks what it is called on", function()
    local p = tide.resolve(1)
    assert.has_error(function() p.finally(42) end,
      "bad argument #1 to 'finally' (tide.promise expected; call it as promise:finally(f))")
    assert.equal(1, tide.spawn(function() return 1 end):finally(function() end):await())
  end)

  it("finally runs with no argument and lets the outcome through", function()
    local args
    assert.equal(1, tide.resolve(1):finally(function(...) args = select("#", ...) end):await())
    assert.equal(0, args)
    local e = {}
    assert.same({ false, e }, { tide.pawait(tide.reject(e):finally(function() return "ignored" end)) })
  end)

  it("finally waits for a promise that its callback returns", function()
    local log = {}
    local p = tide.resolve("v"):finally(function()
      return tide.sleep(0.005):next(function() log[#log + 1] = "cleanup done" end)
    end):next(function(v) log[#log + 1] = v end)
    p:await()
    assert.same({ "cleanup done", "v" }, log)
  end)

  it("finally's own failure replaces the outcome", function()
    local e = {}
    assert.same({ false, e }, { tide.pawait(tide.resolve(1):finally(function() error(e) end)) })
    assert.same({ false, "late" }, { tide.pawait(tide.reject("early"):finally(function()
      return tide.reject("late")
    end)) })
  end)

  it("finally with a non-function passes the outcome through", function()
    assert.equal(4, tide.resolve(4):finally(nil):await())
  end)

  it("methods check that they are called on a promise", function()
    local p = tide.resolve(1)
    assert.has_error(function() p.next(5) end, "bad argument #1 to 'next' (tide.promise expected, got number)")
    assert.has_error(function() p.catch({}) end, "bad argument #1 to 'catch' (tide.promise expected, got table)")
    assert.has_error(function() p.state(nil) end, "bad argument #1 to 'state' (tide.promise expected, got nil)")
  end)
end)

describe("state and tostring", function()
  helper.setup()

  it("state and peek report without waiting", function()
    local p, resolve = tide.deferred()
    assert.equal("pending", p:state())
    assert.same({ "pending" }, { p:peek() })
    resolve(false)
    assert.same({ "fulfilled", false }, { p:peek() })
    local r = tide.reject("why")
    assert.same({ "rejected", "why" }, { r:peek() })
  end)

  it("tostring shows the state and a short form of the value", function()
    assert.equal("tide.promise (pending)", tostring(tide.promise(function() end)))
    assert.equal("tide.promise (fulfilled: 42)", tostring(tide.resolve(42)))
    assert.equal('tide.promise (fulfilled: "text")', tostring(tide.resolve("text")))
    assert.equal("tide.promise (fulfilled: nil)", tostring(tide.resolve(nil)))
    local r = tide.reject(tide.error("timeout", "too slow"))
    r:catch(function() end)
    assert.equal("tide.promise (rejected: timeout: too slow)", tostring(r))
    local long = tostring(tide.resolve(("x"):rep(100)))
    assert.equal('tide.promise (fulfilled: "' .. ("x"):rep(60) .. '...")', long)
  end)
end)

describe("the microtask queue", function()
  helper.setup()

  it("runs reactions in registration order, after the current code", function()
    local log = {}
    local p = tide.resolve()
    p:next(function() log[#log + 1] = "a" end)
    p:next(function() log[#log + 1] = "b" end)
    tide.queue_microtask(function(x) log[#log + 1] = x end, "c")
    log[#log + 1] = "sync"
    tide.sleep(0):await()
    assert.same({ "sync", "a", "b", "c" }, log)
  end)

  it("runs what microtasks queue before the loop turns again", function()
    local log = {}
    tide.set_timeout(function() log[#log + 1] = "timer" end, 0)
    tide.queue_microtask(function()
      tide.queue_microtask(function() log[#log + 1] = "nested" end)
      log[#log + 1] = "outer"
    end)
    tide.sleep(0.002):await()
    assert.same({ "outer", "nested", "timer" }, log)
  end)

  it("queue_microtask reports errors and goes on", function()
    local seen
    local prev = tide.on_unhandled(function(e) seen = e end)
    local after = false
    tide.queue_microtask(function() error("in microtask", 0) end)
    tide.queue_microtask(function() after = true end)
    tide.sleep(0):await()
    tide.on_unhandled(prev)
    assert.equal("in microtask", seen)
    assert.is_true(after)
    assert.has_error(function() tide.queue_microtask(1) end,
      "bad argument #1 to 'queue_microtask' (function expected, got number)")
  end)
end)
