-- Combinators: tide.all, tide.all_settled, tide.race, tide.any.
--
-- JavaScript's Promise.all & co are the reference: input order kept, plain
-- values allowed, thenables adopted, empty lists as in JS; `list.n` gives
-- the length when a list has holes, and results carry `.n`.
local helper = require "spec.helper"
local tide = require "tide"

-- A promise fulfilled with v after s seconds.
local function later(v, s)
  return tide.sleep(s):next(function() return v end)
end

-- A promise rejected with e (unchanged) after s seconds.
local function fail_later(e, s)
  return tide.sleep(s):next(function() error(e, 0) end)
end

-- Objects with a then-method: tide adopts both spellings, `next` and `then`.
local function thenable_next(v)
  return setmetatable({}, { __index = { next = function(_, resolve) resolve(v) end } })
end

local function thenable_then(v)
  return setmetatable({}, { __index = { ["then"] = function(_, _, reject) reject(v) end } })
end

-- What reaches tide.on_unhandled during the test (the reasons).
local function capture_unhandled() return helper.capture_unhandled(finally) end

-- Keys of a table, sorted, as strings (to check a result has nothing extra).
local function keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return ks
end

-- Calls to each combinator (written out: Lua names the function in its
-- messages from the call site).
local call = {
  all = function(...) local p = tide.all(...); return p end,
  all_settled = function(...) local p = tide.all_settled(...); return p end,
  race = function(...) local p = tide.race(...); return p end,
  any = function(...) local p = tide.any(...); return p end,
}

-- Every combinator rejects a non-table argument the same way.
local function check_argument_errors(name)
  local fn = call[name]
  local msg = "bad argument #1 to '" .. name .. "' (%s)"
  assert.has_error(function() fn() end, msg:format("table expected, got no value"))
  assert.has_error(function() fn(nil) end, msg:format("table expected, got nil"))
  assert.has_error(function() fn(42) end, msg:format("table expected, got number"))
  assert.has_error(function() fn("a, b") end, msg:format("table expected, got string"))
  assert.has_error(function() fn(tide.resolve(1)) end, msg:format("table expected, got tide.promise"))
  assert.has_error(function() fn({ 1, n = -1 }) end, msg:format("field 'n' must not be negative"))
  -- A stray huge n fails at once instead of walking 2^40 holes.
  assert.has_error(function() fn({ n = 1 << 40 }) end, msg:format("more than 268435456 inputs"))
  assert.has_error(function() fn(setmetatable({}, { __len = function() return 1 << 40 end })) end,
    msg:format("more than 268435456 inputs"))
end

describe("tide.all", function()
  helper.setup()

  it("keeps working when only its result promise is referenced", function()
    local results = {}
    helper.run(function()
      local ps = {
        tide.all { later(1, 0.01), later(2, 0.02) },
        tide.all_settled { later(1, 0.01), fail_later(2, 0.02) },
        tide.race { later(1, 0.01), later(2, 0.02) },
        tide.any { fail_later(1, 0.01), later(2, 0.02) },
      }
      collectgarbage()
      collectgarbage()
      for i, p in ipairs(ps) do results[i] = p:await() end
    end)
    assert.same({ 1, 2, n = 2 }, results[1])
    assert.same({ { status = "fulfilled", value = 1 }, { status = "rejected", reason = 2 }, n = 2 }, results[2])
    assert.equal(1, results[3])
    assert.equal(2, results[4])
  end)

  it("fulfils with the values in input order, whatever order they settle in", function()
    local res = helper.run(function()
      return tide.all { later("a", 0.03), later("b", 0.01), later("c", 0.02) }:await()
    end)
    assert.same({ "a", "b", "c", n = 3 }, res)
  end)

  it("takes plain values, tasks and thenables; a table without a metatable is a value", function()
    local plain = { 1 }
    local res = helper.run(function()
      local task = tide.spawn(function()
        tide.sleep(0.001):await()
        return "task"
      end)
      return tide.all { 1, "two", plain, task, tide.resolve(false), thenable_next("thenable") }:await()
    end)
    assert.same({ 1, "two", { 1 }, "task", false, "thenable", n = 6 }, res)
    assert.is_true(rawequal(plain, res[3]))
  end)

  it("returns a promise of a new table, not the list it was given", function()
    local list = { 1, 2 }
    local p = tide.all(list)
    assert.equal("tide.promise", getmetatable(p).__name)
    local res = p:await()
    assert.is_false(rawequal(list, res))
    assert.same({ 1, 2 }, list)
  end)

  it("rejects with the first rejection in time, the same value", function()
    local first, second = { "first" }, { "second" }
    helper.run(function()
      local ok, err = tide.pawait(tide.all { fail_later(second, 0.03), later(1, 0.01), fail_later(first, 0.01) })
      assert.is_false(ok)
      assert.is_true(rawequal(first, err))
    end)
  end)

  it("rejects without waiting for the inputs still pending", function()
    local forever = tide.deferred()
    helper.run(function()
      local reason = {}
      local ok, err = tide.pawait(tide.all { forever, tide.reject(reason) })
      assert.is_false(ok)
      assert.is_true(rawequal(reason, err))
    end)
  end)

  it("handles its inputs: later rejections are not reported as unhandled", function()
    local reports = capture_unhandled()
    helper.run(function()
      local ok = tide.pawait(tide.all { fail_later("a", 0.01), fail_later("b", 0.02), tide.reject("c") })
      assert.is_false(ok)
      tide.sleep(0.04):await()
    end)
    tide.run()
    assert.same({}, reports)
  end)

  it("fulfils an empty list with an empty result that has n = 0", function()
    local res = helper.run(function() return tide.all({}):await() end)
    assert.same({ n = 0 }, res)
    assert.same({ "n" }, keys(res))
  end)

  it("honours list.n: holes are nil values", function()
    helper.run(function()
      local res = tide.all({ 1, nil, later(3, 0.001), nil, n = 5 }):await()
      assert.equal(5, res.n)
      assert.equal(1, res[1])
      assert.is_nil(res[2])
      assert.equal(3, res[3])
      assert.is_nil(res[4])
      assert.is_nil(res[5])
      assert.same({ "1", "3", "n" }, keys(res))
    end)
  end)

  it("honours a list.n shorter than the list, and n = 0", function()
    helper.run(function()
      assert.same({ "a", "b", n = 2 }, tide.all({ "a", "b", "c", n = 2 }):await())
      assert.same({ n = 0 }, tide.all({ "a", "b", n = 0 }):await())
    end)
  end)

  it("honours a list.n that is a float with an integer value", function()
    helper.run(function()
      assert.same({ "a", "b", n = 2 }, tide.all({ "a", "b", "c", n = 2.0 }):await())
    end)
  end)

  it("rejects when adopting a thenable fails", function()
    local boom = { "lookup failed" }
    local bad_lookup = setmetatable({}, { __index = function() error(boom) end })
    local bad_then = setmetatable({}, { __index = { next = function() error("then failed", 0) end } })
    helper.run(function()
      local ok, err = tide.pawait(tide.all { bad_lookup })
      assert.is_false(ok)
      assert.is_true(rawequal(boom, err))
      assert.same({ false, "then failed" }, { tide.pawait(tide.all { 1, bad_then }) })
      assert.same({ false, "rejected" }, { tide.pawait(tide.all { 1, thenable_then("rejected") }) })
    end)
  end)

  it("can be awaited at the top level", function()
    assert.same({ 1, 2, n = 2 }, tide.all({ later(1, 0.01), 2 }):await())
  end)

  it("rejects an argument that is not a list", function()
    check_argument_errors("all")
  end)
end)

describe("tide.all_settled", function()
  helper.setup()

  it("fulfils with one entry per input, in input order, once all have settled", function()
    local reason = { "why" }
    local res = helper.run(function()
      return tide.all_settled { fail_later(reason, 0.02), later("ok", 0.01), 7, tide.reject("now") }:await()
    end)
    assert.equal(4, res.n)
    assert.same({ status = "rejected", reason = reason }, res[1])
    assert.is_true(rawequal(reason, res[1].reason))
    assert.same({ status = "fulfilled", value = "ok" }, res[2])
    assert.same({ status = "fulfilled", value = 7 }, res[3])
    assert.same({ status = "rejected", reason = "now" }, res[4])
    assert.same({ "reason", "status" }, keys(res[1]))
    assert.same({ "status", "value" }, keys(res[2]))
  end)

  it("never rejects, even when every input does", function()
    local reports = capture_unhandled()
    helper.run(function()
      local ok, res = tide.pawait(tide.all_settled { tide.reject("a"), fail_later("b", 0.01) })
      assert.is_true(ok)
      assert.same({ { status = "rejected", reason = "a" }, { status = "rejected", reason = "b" }, n = 2 }, res)
    end)
    tide.run()
    assert.same({}, reports)
  end)

  it("waits for the slowest input", function()
    helper.run(function()
      local slow = later("slow", 0.03)
      local res = tide.all_settled({ tide.reject("fast"), slow }):await()
      assert.equal("fulfilled", slow:state())
      assert.same({ status = "fulfilled", value = "slow" }, res[2])
    end)
  end)

  it("adopts thenables", function()
    helper.run(function()
      local res = tide.all_settled({ thenable_next(1), thenable_then("no") }):await()
      assert.same({ { status = "fulfilled", value = 1 }, { status = "rejected", reason = "no" }, n = 2 }, res)
    end)
  end)

  it("fulfils an empty list with an empty result that has n = 0", function()
    local res = helper.run(function() return tide.all_settled({}):await() end)
    assert.same({ n = 0 }, res)
  end)

  it("honours list.n: holes are fulfilled with nil", function()
    helper.run(function()
      local res = tide.all_settled({ nil, 2, nil, n = 3 }):await()
      assert.equal(3, res.n)
      assert.same({ status = "fulfilled" }, res[1])
      assert.same({ status = "fulfilled", value = 2 }, res[2])
      assert.same({ status = "fulfilled" }, res[3])
    end)
  end)

  it("rejects an argument that is not a list", function()
    check_argument_errors("all_settled")
  end)
end)

describe("tide.race", function()
  helper.setup()

  it("fulfils like the first input to settle", function()
    helper.run(function()
      assert.equal("fast", tide.race({ later("slow", 0.03), later("fast", 0.01) }):await())
    end)
  end)

  it("rejects like the first input to settle, with the same value", function()
    local reason = { "fast failure" }
    helper.run(function()
      local ok, err = tide.pawait(tide.race { later("slow", 0.03), fail_later(reason, 0.01) })
      assert.is_false(ok)
      assert.is_true(rawequal(reason, err))
    end)
  end)

  it("ignores what the other inputs do later, and reports none of it", function()
    local reports = capture_unhandled()
    helper.run(function()
      local p = tide.race { later("first", 0.01), fail_later("late", 0.02), later("later", 0.03) }
      assert.equal("first", p:await())
      tide.sleep(0.04):await()
      assert.same({ true, "first" }, { tide.pawait(p) })
    end)
    tide.run()
    assert.same({}, reports)
  end)

  it("lets a plain value win over pending inputs", function()
    helper.run(function()
      assert.equal(42, tide.race({ tide.deferred(), later(1, 0.01), 42 }):await())
    end)
  end)

  it("picks the first input in list order when several have already settled", function()
    helper.run(function()
      assert.equal(1, tide.race({ tide.resolve(1), 2 }):await())
      local reason = {}
      local ok, err = tide.pawait(tide.race { tide.reject(reason), 2 })
      assert.is_false(ok)
      assert.is_true(rawequal(reason, err))
      assert.equal("a", tide.race({ tide.resolve("a"), tide.resolve("b") }):await())
    end)
  end)

  it("adopts thenables", function()
    helper.run(function()
      assert.equal("via next", tide.race({ tide.deferred(), thenable_next("via next") }):await())
      assert.same({ false, "via then" }, { tide.pawait(tide.race { thenable_then("via then") }) })
    end)
  end)

  it("stays pending forever for an empty list", function()
    helper.run(function()
      local p = tide.race {}
      assert.equal("pending", p:state())
      tide.sleep(0):await()
      tide.sleep(0.01):await()
      assert.equal("pending", p:state())
    end)
  end)

  it("honours list.n: a hole is a nil value that wins at once", function()
    helper.run(function()
      local p = tide.race { nil, later(1, 0.01), n = 2 }
      assert.same({ true, nil }, { tide.pawait(p) })
      assert.equal("tide.promise (fulfilled: nil)", tostring(p))
    end)
  end)

  it("rejects an argument that is not a list", function()
    check_argument_errors("race")
  end)
end)

describe("tide.any", function()
  helper.setup()

  it("fulfils with the first fulfilment, ignoring earlier rejections", function()
    local reports = capture_unhandled()
    helper.run(function()
      local p = tide.any { tide.reject("no"), fail_later("nope", 0.01), later("yes", 0.02), later("too late", 0.03) }
      assert.equal("yes", p:await())
      tide.sleep(0.02):await()
    end)
    tide.run()
    assert.same({}, reports)
  end)

  it("lets a plain value count as a fulfilment", function()
    helper.run(function()
      assert.equal("plain", tide.any({ tide.reject("x"), "plain" }):await())
    end)
  end)

  it("picks the first fulfilled input in list order when several have already settled", function()
    helper.run(function()
      assert.equal(1, tide.any({ tide.resolve(1), 2 }):await())
      assert.equal("a", tide.any({ tide.reject("x"), tide.resolve("a"), "b" }):await())
    end)
  end)

  it("rejects with an aggregate tide.error listing every reason in input order", function()
    local r1, r2, r3 = { "one" }, { "two" }, { "three" }
    helper.run(function()
      local ok, err = tide.pawait(tide.any { fail_later(r1, 0.03), tide.reject(r2), fail_later(r3, 0.01) })
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "aggregate"))
      assert.equal("aggregate", err.kind)
      assert.equal("all 3 promises were rejected", err.message)
      -- Its text lists each cause (issue 10).
      assert.equal(("aggregate: all 3 promises were rejected\n  [1] %s\n  [2] %s\n  [3] %s"):format(
        tostring(r1), tostring(r2), tostring(r3)), tostring(err))
      assert.equal(3, err.errors.n)
      assert.is_true(rawequal(r1, err.errors[1]))
      assert.is_true(rawequal(r2, err.errors[2]))
      assert.is_true(rawequal(r3, err.errors[3]))
    end)
  end)

  it("adopts thenables", function()
    helper.run(function()
      assert.equal("ok", tide.any({ thenable_then("bad"), thenable_next("ok") }):await())
      local ok, err = tide.pawait(tide.any { thenable_then("bad") })
      assert.is_false(ok)
      assert.same({ "bad", n = 1 }, err.errors)
    end)
  end)

  it("rejects an empty list with an aggregate error and no reasons", function()
    helper.run(function()
      local ok, err = tide.pawait(tide.any {})
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "aggregate"))
      assert.equal("all 0 promises were rejected", err.message)
      assert.same({ n = 0 }, err.errors)
    end)
  end)

  it("honours list.n: a hole is a nil value, so a fulfilment", function()
    helper.run(function()
      assert.same({ true, nil }, { tide.pawait(tide.any { tide.reject("x"), nil, n = 2 }) })
    end)
  end)

  it("rejects an argument that is not a list", function()
    check_argument_errors("any")
  end)
end)
