--- Promises/A+ 1.1 conformance of tide's promises (https://promisesaplus.com).
--
-- A+'s `then` is tide's `p:next` (`then` is a Lua keyword). The tests follow
-- the clauses of the specification: 2.1 promise states, 2.2 the then method,
-- 2.3 the promise resolution procedure. Where A+ says "any value" they use
-- VALUES below. Where A+ says "an object or function", tide's rule applies: a
-- thenable is a table or userdata with a metatable on which indexing `next`
-- (tried first) or `then` gives a callable; everything else is a value.
--
-- Handlers and timer callbacks only record what happens: every assertion is
-- made in the test's main task, where a failure fails the test.
local helper = require "spec.helper"
local tide = require "tide"

local DELAY = 0.001 -- "eventually": settled from a timer this much later
local WAIT = 0.01   -- long enough for everything scheduled with DELAY to happen

local SENTINEL = { "sentinel" } -- the value to look for, compared with rawequal
local OTHER = { "other" }       -- a value the outcome must not be
local DUMMY = "dummy"           -- settles what the test does not look at

local function nop() end

--- Runs fn from a timer callback `s` (default DELAY) seconds from now.
local function later(fn, s) tide.set_timeout(fn, s or DELAY) end

--- Lets the loop run WAIT seconds: timers fire and microtasks drain.
local function wait() tide.sleep(WAIT):await() end

--- rawequal, where NaN is the same as NaN.
local function same(a, b) return rawequal(a, b) or (a ~= a and b ~= b) end

local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if rawequal(v, SENTINEL) then return "SENTINEL" end
  if rawequal(v, OTHER) then return "OTHER" end
  return tostring(v)
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = debug.getmetatable(v)
  return mt ~= nil and mt.__call ~= nil
end

local function assert_same(want, got, what)
  assert.is_true(same(want, got), ("%s: expected %s, got %s"):format(what or "value", show(want), show(got)))
end

--- Waits for p to settle: "fulfilled" or "rejected", and the value.
local function outcome(p)
  local ok, v = tide.pawait(p)
  return ok and "fulfilled" or "rejected", v
end

local function assert_outcome(p, want_state, want, what)
  local state, got = outcome(p)
  assert.is_true(state == want_state and same(want, got),
    ("%sexpected %s with %s, got %s with %s"):format(what and what .. ": " or "", want_state, show(want), state,
      show(got)))
  assert.equal(want_state, p:state())
end

local function assert_fulfilled(p, want, what) assert_outcome(p, "fulfilled", want, what) end
local function assert_rejected(p, want, what) assert_outcome(p, "rejected", want, what) end

local function assert_type_error(p)
  local state, got = outcome(p)
  assert.equal("rejected", state)
  assert.is_true(tide.is_error(got, "type"), "expected a tide.error of kind type, got " .. show(got))
end

--- Sets t[k] = v while fn runs (in the calling task), then restores it.
local function with_field(t, k, v, fn)
  local old = rawget(t, k)
  rawset(t, k, v)
  local ok, err = pcall(fn)
  rawset(t, k, old)
  if not ok then error(err, 0) end
end

--- Gives every value of v's type the metatable mt while fn runs.
local function with_metatable(v, mt, fn)
  local old = debug.getmetatable(v)
  debug.setmetatable(v, mt)
  local ok, err = pcall(fn)
  debug.setmetatable(v, old)
  if not ok then error(err, 0) end
end

local function must_not_call() error("this function must not be called", 0) end

--- What A+ calls "any value". None of them is a thenable for tide.
local VALUES = {
  { "nil", nil },
  { "false", false },
  { "true", true },
  { "0", 0 },
  { "-1.5", -1.5 },
  { "NaN", 0 / 0 },
  { "math.huge", math.huge },
  { "the empty string", "" },
  { "a string", "a string" },
  { "an empty table", {} },
  { "a table", { answer = 42 } },
  { "an array", { 1, 2, 3 } },
  { "a tide.error", tide.error("type", "a tide error as a value") },
  { "a function", function() error("a function value must not be called", 0) end },
  { "a coroutine", coroutine.create(nop) },
  { "a table with a metatable but no next or then", setmetatable({}, { __index = { size = 1 } }) },
  { "a table without a metatable with callable next and then fields",
    { next = must_not_call, ["then"] = must_not_call } },
  { "a userdata with a metatable but no next or then (io.stderr)", io.stderr },
}

--- The values of VALUES that are not tables or userdata.
local PRIMITIVES = {}
for _, v in ipairs(VALUES) do
  local t = type(v[2])
  if t ~= "table" and t ~= "userdata" then PRIMITIVES[#PRIMITIVES + 1] = v end
end

--- Handlers that are not callable; A+ 2.2.1 says they are ignored.
local NON_CALLABLE = {
  { "nil", nil },
  { "false", false },
  { "true", true },
  { "a number", 5 },
  { "a string", "handler" },
  { "a table", {} },
  { "a table with a metatable without __call", setmetatable({}, { __index = {} }) },
  { "a coroutine", coroutine.create(nop) },
}

-- A thenable through tide's name for the method, and through A+'s.
local function thenable(next_fn) return setmetatable({}, { __index = { next = next_fn } }) end
local function then_thenable(then_fn) return setmetatable({}, { __index = { ["then"] = then_fn } }) end

--- Thenables that fulfill with v or reject with r, at once or later.
local function fulfills_at_once(v) return thenable(function(_, res) res(v) end) end
local function fulfills_later(v) return thenable(function(_, res) later(function() res(v) end) end) end
local function rejects_at_once(r) return thenable(function(_, _, rej) rej(r) end) end
local function rejects_later(r) return thenable(function(_, _, rej) later(function() rej(r) end) end) end
local function never_settles() return thenable(nop) end

--- A tide promise settled from a timer.
local function fulfilled_later(v)
  local p, res = tide.deferred()
  later(function() res(v) end)
  return p
end
local function rejected_later(r)
  local p, _, rej = tide.deferred()
  later(function() rej(r) end)
  return p
end

--- x on which reading `key` raises e; other keys come from `also`.
local function raising_getter(key, e, also)
  return setmetatable({}, { __index = function(_, k)
    if k == key then error(e, 0) end
    return also and also[k]
  end })
end

--- x whose metatable's __index counts the reads of each key and gives f
--- for `key`.
local function counting(key, f)
  local reads = { next = 0, ["then"] = 0 }
  local x = setmetatable({}, { __index = function(_, k)
    reads[k] = (reads[k] or 0) + 1
    if k == key then return f end
  end })
  return x, reads
end

---------------------------------------------------------------------------
-- Promises built several ways. `make(v)` returns the promise and `settle`,
-- which the test calls once it has attached its handlers (a no-op when the
-- promise settles by itself). "already", "immediately" and "eventually" are
-- the three cases of A+'s own suite; the others reach the same state through
-- the executor, a handler, and a task.

local FULFILLED = {
  { "already fulfilled: tide.resolve", function(v) return tide.resolve(v), nop end },
  { "immediately fulfilled: deferred", function(v)
    local p, res = tide.deferred()
    return p, function() res(v) end
  end },
  { "eventually fulfilled: timer", function(v)
    local p, res = tide.deferred()
    return p, function() later(function() res(v) end) end
  end },
  { "fulfilled by the executor", function(v) return tide.promise(function(res) res(v) end), nop end },
  { "fulfilled by a handler's return", function(v)
    return tide.reject(DUMMY):next(nil, function() return v end), nop
  end },
  { "a task that returns", function(v)
    return tide.spawn(function() tide.sleep(0):await(); return v end), nop
  end },
}

local REJECTED = {
  { "already rejected: tide.reject", function(r) return tide.reject(r), nop end },
  { "immediately rejected: deferred", function(r)
    local p, _, rej = tide.deferred()
    return p, function() rej(r) end
  end },
  { "eventually rejected: timer", function(r)
    local p, _, rej = tide.deferred()
    return p, function() later(function() rej(r) end) end
  end },
  { "rejected by a raising executor", function(r) return tide.promise(function() error(r, 0) end), nop end },
  { "rejected by a handler's raise", function(r)
    return tide.resolve(DUMMY):next(function() error(r, 0) end), nop
  end },
  { "a task that raises", function(r)
    return tide.spawn(function() tide.sleep(0):await(); error(r, 0) end), nop
  end },
}

--- The first three ways: already, immediately, eventually.
local function core_ways(ways) return { ways[1], ways[2], ways[3] } end

--- One `it` per way: body(make) runs as the test's main task.
local function it_ways(ways, desc, body)
  for _, way in ipairs(ways) do
    it(("%s [%s]"):format(desc, way[1]), function()
      helper.run(function() body(way[2]) end)
    end)
  end
end

--- The two outcomes, so that 2.1.2/2.1.3, 2.2.2/2.2.3 and 2.2.7.3/2.2.7.4
--- are one set of tests each.
local SIDES = {
  {
    state = "fulfilled", handler = "onFulfilled", other = "onRejected",
    states_clause = "2.1.2", handler_clause = "2.2.2", order_clause = "2.2.6.1", passthrough_clause = "2.2.7.3",
    ways = FULFILLED,
    settled = tide.resolve,
    -- A pending promise: p, settle(v) for this outcome, settle(v) for the other.
    pending = function()
      local p, res, rej = tide.deferred()
      return p, res, rej
    end,
    pick = function(res, _) return res end,
    on = function(p, h, o) return p:next(h, o) end,
    assert_outcome = assert_fulfilled,
    executor_then_other = function(v, o)
      return tide.promise(function(res, rej) res(v); rej(o); error(o, 0) end)
    end,
  },
  {
    state = "rejected", handler = "onRejected", other = "onFulfilled",
    states_clause = "2.1.3", handler_clause = "2.2.3", order_clause = "2.2.6.2", passthrough_clause = "2.2.7.4",
    ways = REJECTED,
    settled = tide.reject,
    pending = function()
      local p, res, rej = tide.deferred()
      return p, rej, res
    end,
    pick = function(_, rej) return rej end,
    on = function(p, h, o) return p:next(o, h) end,
    assert_outcome = assert_rejected,
    executor_then_other = function(v, o)
      return tide.promise(function(res, rej) rej(v); res(o); error(o, 0) end)
    end,
  },
}

local function opposite(s) return s == SIDES[1] and SIDES[2] or SIDES[1] end

---------------------------------------------------------------------------
-- Ways to run the resolution procedure [[Resolve]](promise, x); each returns
-- the promise.

local RESOLVE_VIA = {
  { "returned by onFulfilled", function(x)
    return tide.resolve(DUMMY):next(function() return x end)
  end },
  { "returned by onRejected", function(x)
    return tide.reject(DUMMY):next(nil, function() return x end)
  end },
  { "given to the deferred's resolve", function(x)
    local p, res = tide.deferred()
    res(x)
    return p
  end },
  { "given to the executor's resolve", function(x)
    return tide.promise(function(res) res(x) end)
  end },
  { "given to a thenable's resolvePromise at once", function(x)
    return tide.resolve(thenable(function(_, res) res(x) end))
  end },
  { "given to a thenable's resolvePromise later", function(x)
    return tide.resolve(thenable(function(_, res) later(function() res(x) end) end))
  end },
}

--- The canonical way: x returned by onFulfilled.
local function resolved_with(x) return RESOLVE_VIA[1][2](x) end

--- One `it` per way of resolving: make() returns x and a context for
--- check(promise, context), which runs as the test's main task.
local function it_resolution(desc, make, check)
  for _, via in ipairs(RESOLVE_VIA) do
    it(("%s (x %s)"):format(desc, via[1]), function()
      helper.run(function()
        local x, ctx = make()
        check(via[2](x), ctx)
      end)
    end)
  end
end

--- Promises and thenables that end up fulfilled with v / rejected with r.
local FULFILLING = {
  { "an already-fulfilled tide promise", function(v) return tide.resolve(v) end },
  { "an eventually-fulfilled tide promise", fulfilled_later },
  { "a tide promise fulfilled by a handler", function(v)
    return tide.resolve(DUMMY):next(function() return v end)
  end },
  { "a task that returns the value", function(v)
    return tide.spawn(function() tide.sleep(0):await(); return v end)
  end },
  { "a thenable that fulfills at once", fulfills_at_once },
  { "a thenable that fulfills later", fulfills_later },
  { "a thenable (named then) that fulfills later", function(v)
    return then_thenable(function(_, res) later(function() res(v) end) end)
  end },
  { "a thenable for a thenable that fulfills later", function(v)
    return thenable(function(_, res) res(fulfills_later(v)) end)
  end },
  { "a thenable for an eventually-fulfilled tide promise", function(v)
    return thenable(function(_, res) res(fulfilled_later(v)) end)
  end },
  { "a tide promise that follows a thenable", function(v) return tide.resolve(fulfills_later(v)) end },
}

local REJECTING = {
  { "an already-rejected tide promise", function(r) return tide.reject(r) end },
  { "an eventually-rejected tide promise", rejected_later },
  { "a tide promise rejected by a handler", function(r)
    return tide.resolve(DUMMY):next(function() error(r, 0) end)
  end },
  { "a task that raises", function(r)
    return tide.spawn(function() tide.sleep(0):await(); error(r, 0) end)
  end },
  { "a thenable that rejects at once", rejects_at_once },
  { "a thenable that rejects later", rejects_later },
  { "a thenable (named then) that rejects later", function(r)
    return then_thenable(function(_, _, rej) later(function() rej(r) end) end)
  end },
  { "a thenable whose next raises", function(r) return thenable(function() error(r, 0) end) end },
  { "an object whose next getter raises", function(r) return raising_getter("next", r) end },
  { "a thenable for an already-rejected tide promise", function(r)
    return thenable(function(_, res) res(tide.reject(r)) end)
  end },
  { "a thenable for a thenable that rejects later", function(r)
    return thenable(function(_, res) res(rejects_later(r)) end)
  end },
}

--- Ways for an object to be a thenable: make(f) gives an x on which
--- indexing next or then gives f, or something that calls f.
local THENABLE_FORMS = {
  { "next in the metatable's __index table", thenable },
  { "next as an own field of a table with a metatable", function(f) return setmetatable({ next = f }, {}) end },
  { "then in the metatable's __index table", then_thenable },
  { "then as an own field of a table with a metatable", function(f)
    return setmetatable({ ["then"] = f }, {})
  end },
  { "next given by an __index function", function(f)
    return setmetatable({}, { __index = function(_, k) if k == "next" then return f end end })
  end },
  { "next inherited through two levels of classes", function(f)
    local base = { next = f }
    base.__index = base
    local class = setmetatable({}, base)
    class.__index = class
    return setmetatable({}, class)
  end },
  { "next as a callable table", function(f)
    return thenable(setmetatable({}, { __call = function(_, ...) return f(...) end }))
  end },
}

describe("Promises/A+ 1.1", function()
  helper.setup()

  -- The tests leave rejections unhandled on purpose: keep them quiet. An
  -- error in a timer callback, though, is a broken test.
  local previous, callback_errors = nil, {}
  setup(function()
    previous = tide.on_unhandled(function(reason, promise)
      if promise == nil then callback_errors[#callback_errors + 1] = tostring(reason) end
    end)
  end)
  teardown(function() tide.on_unhandled(previous) end)
  before_each(function() callback_errors = {} end)
  after_each(function() assert.same({}, callback_errors) end)

  -------------------------------------------------------------------------
  describe("2.1.1 a pending promise", function()
    it("reports pending and has no value yet", function()
      local p = tide.deferred()
      assert.equal("pending", p:state())
      assert.equal(1, select("#", p:peek()))
    end)

    it("2.1.1.1 may transition to fulfilled", function()
      helper.run(function()
        local p, res = tide.deferred()
        res(SENTINEL)
        assert_fulfilled(p, SENTINEL)
        assert.is_true(rawequal(SENTINEL, select(2, p:peek())))
      end)
    end)

    it("2.1.1.1 may transition to rejected", function()
      helper.run(function()
        local p, _, rej = tide.deferred()
        rej(SENTINEL)
        assert_rejected(p, SENTINEL)
        assert.is_true(rawequal(SENTINEL, select(2, p:peek())))
      end)
    end)

    it("stays pending while nothing settles it", function()
      helper.run(function()
        local p = tide.deferred()
        p:next(helper.expect(0), helper.expect(0))
        wait()
        assert.equal("pending", p:state())
      end)
    end)
  end)

  for _, s in ipairs(SIDES) do
    local c = s.states_clause
    describe(("%s when %s, a promise"):format(c, s.state), function()
      it_ways(s.ways, c .. ".1 does not transition: " .. s.other .. " is never called", function(make)
        local p, settle = make(SENTINEL)
        s.on(p, helper.expect(1), helper.expect(0))
        settle()
        wait()
        assert.equal(s.state, p:state())
      end)

      it(c .. ".1 settling the other way right after is ignored", function()
        helper.run(function()
          local p, settle, other = s.pending()
          s.on(p, helper.expect(1), helper.expect(0))
          settle(SENTINEL)
          other(OTHER)
          s.assert_outcome(p, SENTINEL)
          wait()
        end)
      end)

      it(c .. ".1 settling the other way later is ignored", function()
        helper.run(function()
          local p, settle, other = s.pending()
          s.on(p, helper.expect(1), helper.expect(0))
          settle(SENTINEL)
          later(function() other(OTHER) end)
          wait()
          s.assert_outcome(p, SENTINEL)
        end)
      end)

      it(c .. ".1 settling later and the other way even later is ignored", function()
        helper.run(function()
          local p, settle, other = s.pending()
          s.on(p, helper.expect(1), helper.expect(0))
          later(function() settle(SENTINEL) end)
          later(function() other(OTHER) end, 2 * DELAY)
          wait()
          s.assert_outcome(p, SENTINEL)
        end)
      end)

      it(c .. ".1 an executor that settles, then does the other and raises, is ignored", function()
        helper.run(function()
          local p = s.executor_then_other(SENTINEL, OTHER)
          s.on(p, helper.expect(1), helper.expect(0))
          wait()
          s.assert_outcome(p, SENTINEL)
        end)
      end)

      it(c .. ".2 its value does not change: settling again is ignored, now or later", function()
        helper.run(function()
          local p, settle = s.pending()
          settle(SENTINEL)
          settle(OTHER)
          later(function() settle(OTHER) end)
          wait()
          s.assert_outcome(p, SENTINEL)
          assert.is_true(rawequal(SENTINEL, select(2, p:peek())))
        end)
      end)

      it(c .. ".2 every observer sees the very same value", function()
        helper.run(function()
          local p, settle = s.pending()
          local seen = {}
          local function record(v) seen[#seen + 1] = v end
          s.on(p, record)
          s.on(p, record)
          settle(SENTINEL)
          s.on(p, record)
          wait()
          s.on(p, record)
          wait()
          assert.equal(4, #seen)
          for i = 1, 4 do assert.is_true(rawequal(SENTINEL, seen[i]), "observer " .. i) end
          s.assert_outcome(p, SENTINEL)
        end)
      end)

      for _, v in ipairs { { "nil", nil }, { "false", false } } do
        it(("%s.2 is %s even with the value %s"):format(c, s.state, v[1]), function()
          helper.run(function()
            local p, settle, other = s.pending()
            settle(v[2])
            other(OTHER)
            assert.equal(s.state, p:state())
            local state, value = p:peek()
            assert.equal(s.state, state)
            assert.equal(v[2], value)
            s.assert_outcome(p, v[2])
          end)
        end)
      end
    end)
  end

  -------------------------------------------------------------------------
  describe("2.2.1 both handlers are optional", function()
    for _, nc in ipairs(NON_CALLABLE) do
      it("2.2.1.1 onFulfilled = " .. nc[1] .. " is ignored: a rejection still reaches onRejected", function()
        helper.run(function()
          local got
          local p2 = tide.reject(SENTINEL):next(nc[2], helper.expect(1, function(e) got = e end))
          assert_fulfilled(p2, nil)
          assert.is_true(rawequal(SENTINEL, got))
        end)
      end)

      it("2.2.1.2 onRejected = " .. nc[1] .. " is ignored: a fulfillment still reaches onFulfilled", function()
        helper.run(function()
          local got
          local p2 = tide.resolve(SENTINEL):next(helper.expect(1, function(v) got = v end), nc[2])
          assert_fulfilled(p2, nil)
          assert.is_true(rawequal(SENTINEL, got))
        end)
      end)
    end

    it("a callable table is a handler: onFulfilled with __call is called with the value", function()
      helper.run(function()
        local got
        local h = setmetatable({}, { __call = function(_, v) got = v; return OTHER end })
        assert_fulfilled(tide.resolve(SENTINEL):next(h), OTHER)
        assert.is_true(rawequal(SENTINEL, got))
      end)
    end)

    it("a callable table is a handler: onRejected with __call is called with the reason", function()
      helper.run(function()
        local got
        local h = setmetatable({}, { __call = function(_, e) got = e; return OTHER end })
        assert_fulfilled(tide.reject(SENTINEL):next(nil, h), OTHER)
        assert.is_true(rawequal(SENTINEL, got))
      end)
    end)
  end)

  -------------------------------------------------------------------------
  for _, s in ipairs(SIDES) do
    local c = s.handler_clause
    describe(("%s if %s is a function"):format(c, s.handler), function()
      it_ways(core_ways(s.ways), ("%s.1 it is called with the %s value, for any value"):format(c, s.state),
        function(make)
          local got = {}
          for i, v in ipairs(VALUES) do
            local p, settle = make(v[2])
            s.on(p, helper.expect(1, function(...) got[i] = table.pack(...) end))
            settle()
          end
          wait()
          for i, v in ipairs(VALUES) do
            assert.equal(1, got[i].n, v[1])
            assert_same(v[2], got[i][1], v[1])
          end
        end)

      it_ways({ s.ways[4], s.ways[5], s.ways[6] }, c .. ".1 it is called with the value", function(make)
        local p, settle = make(SENTINEL)
        local got
        local p2 = s.on(p, helper.expect(1, function(v) got = v; return OTHER end))
        settle()
        assert_fulfilled(p2, OTHER)
        assert.is_true(rawequal(SENTINEL, got))
      end)

      it(c .. ".2 it is not called while the promise is pending, then once it is " .. s.state, function()
        helper.run(function()
          local p, settle = s.pending()
          local calls, got = 0, nil
          s.on(p, function(v) calls, got = calls + 1, v end)
          wait()
          assert.equal(0, calls)
          later(function() settle(SENTINEL) end)
          assert.equal(0, calls)
          wait()
          assert.equal(1, calls)
          assert.is_true(rawequal(SENTINEL, got))
        end)
      end)

      it(c .. ".2 it is never called for a promise that never settles", function()
        helper.run(function()
          local p = s.pending()
          s.on(p, helper.expect(0))
          wait()
          assert.equal("pending", p:state())
        end)
      end)

      it(c .. ".2 it is not called when the promise has the other outcome", function()
        helper.run(function()
          local p, _, other = s.pending()
          s.on(p, helper.expect(0), helper.expect(1))
          other(OTHER)
          wait()
        end)
      end)

      it_ways(s.ways, c .. ".3 it is called once", function(make)
        local p, settle = make(SENTINEL)
        s.on(p, helper.expect(1))
        settle()
        wait()
        wait()
      end)

      it(c .. ".3 settling twice at once calls it once", function()
        helper.run(function()
          local p, settle = s.pending()
          s.on(p, helper.expect(1))
          settle(SENTINEL)
          settle(SENTINEL)
          wait()
        end)
      end)

      it(c .. ".3 settling at once and again later calls it once", function()
        helper.run(function()
          local p, settle = s.pending()
          s.on(p, helper.expect(1))
          settle(SENTINEL)
          later(function() settle(SENTINEL) end)
          wait()
        end)
      end)

      it(c .. ".3 settling later, twice, calls it once", function()
        helper.run(function()
          local p, settle = s.pending()
          s.on(p, helper.expect(1))
          later(function() settle(SENTINEL) end)
          later(function() settle(SENTINEL) end, 2 * DELAY)
          wait()
        end)
      end)

      it(c .. ".3 settling, then trying the other outcome now and later, calls it once", function()
        helper.run(function()
          local p, settle, other = s.pending()
          s.on(p, helper.expect(1), helper.expect(0))
          settle(SENTINEL)
          other(OTHER)
          later(function() other(OTHER) end)
          wait()
        end)
      end)

      it(c .. ".3 next calls spaced apart in time each get exactly one call", function()
        helper.run(function()
          local p, settle = s.pending()
          s.on(p, helper.expect(1))
          later(function() s.on(p, helper.expect(1)) end, DELAY)
          later(function() s.on(p, helper.expect(1)) end, 2 * DELAY)
          later(function() settle(SENTINEL) end, 3 * DELAY)
          later(function() s.on(p, helper.expect(1)) end, 4 * DELAY)
          wait()
          wait()
        end)
      end)

      it(c .. ".3 next calls interleaved with settling each get exactly one call", function()
        helper.run(function()
          local p, settle = s.pending()
          s.on(p, helper.expect(1))
          settle(SENTINEL)
          s.on(p, helper.expect(1))
          settle(OTHER)
          s.on(p, helper.expect(1))
          wait()
        end)
      end)

      it(c .. " it runs even when only the resolving function keeps the promise alive", function()
        helper.run(function()
          local settle, got
          do
            local p, settle_p = s.pending()
            settle = settle_p
            s.on(p, function(v) got = v end)
          end
          collectgarbage("collect")
          collectgarbage("collect")
          settle(SENTINEL)
          wait()
          assert.is_true(rawequal(SENTINEL, got))
        end)
      end)
    end)
  end

  -------------------------------------------------------------------------
  for _, s in ipairs(SIDES) do
    local H = s.handler
    describe("2.2.4 " .. H .. " is called only from the microtask queue, with a clean stack", function()
      it_ways(s.ways, "next returns before " .. H .. " runs, and so does settle", function(make)
        local p, settle = make(SENTINEL)
        local called = false
        local p2 = s.on(p, function() called = true end)
        local after_next = called
        settle()
        local after_settle = called
        assert_fulfilled(p2, nil)
        assert.is_false(after_next)
        assert.is_false(after_settle)
        assert.is_true(called)
      end)

      it(H .. " added just before the promise settles runs after settling returns", function()
        helper.run(function()
          local p, settle = s.pending()
          local called = false
          s.on(p, function() called = true end)
          settle(SENTINEL)
          assert.is_false(called)
          wait()
          assert.is_true(called)
        end)
      end)

      it(H .. " added just after the promise settles runs after next returns", function()
        helper.run(function()
          local p, settle = s.pending()
          local called = false
          settle(SENTINEL)
          s.on(p, function() called = true end)
          assert.is_false(called)
          wait()
          assert.is_true(called)
        end)
      end)

      it(H .. " added inside a handler of the same promise runs after that handler returns", function()
        helper.run(function()
          local p = s.settled(SENTINEL)
          local events = {}
          s.on(p, function()
            s.on(p, function() events[#events + 1] = "inner" end)
            events[#events + 1] = "outer returns"
          end)
          wait()
          assert.same({ "outer returns", "inner" }, events)
        end)
      end)

      it(H .. " added inside " .. s.other .. " of another promise runs after that handler returns", function()
        helper.run(function()
          local p = s.settled(SENTINEL)
          local events = {}
          local o = opposite(s)
          o.on(o.settled(DUMMY), function()
            s.on(p, function() events[#events + 1] = "inner" end)
            events[#events + 1] = "outer returns"
          end)
          wait()
          assert.same({ "outer returns", "inner" }, events)
        end)
      end)

      it("a promise settled in a timer callback: " .. H .. " runs after the callback returns", function()
        helper.run(function()
          local p, settle = s.pending()
          local events = {}
          s.on(p, function() events[#events + 1] = "handler" end)
          later(function()
            settle(SENTINEL)
            events[#events + 1] = "callback returns"
          end)
          wait()
          assert.same({ "callback returns", "handler" }, events)
        end)
      end)

      it("a promise settled inside another handler: " .. H .. " runs after that handler returns", function()
        helper.run(function()
          local p, settle = s.pending()
          local events = {}
          s.on(p, function() events[#events + 1] = "handler" end)
          tide.resolve(DUMMY):next(function()
            settle(SENTINEL)
            events[#events + 1] = "settling handler returns"
          end)
          wait()
          assert.same({ "settling handler returns", "handler" }, events)
        end)
      end)

      it("a promise settled inside a thenable's next: " .. H .. " runs after next returns", function()
        helper.run(function()
          local events = {}
          local p = tide.resolve(thenable(function(_, res, rej)
            s.pick(res, rej)(SENTINEL)
            events[#events + 1] = "next returns"
          end))
          s.on(p, function() events[#events + 1] = "handler" end)
          wait()
          assert.same({ "next returns", "handler" }, events)
        end)
      end)

      it("a promise resolved with an already-" .. s.state .. " tide promise: resolve returns before " .. H,
        function()
          helper.run(function()
            local p, res = tide.deferred()
            local called = false
            s.on(p, function() called = true end)
            res(s.settled(SENTINEL))
            assert.is_false(called)
            wait()
            assert.is_true(called)
          end)
        end)

      it("a promise resolved with a thenable that settles at once: resolve returns before " .. H, function()
        helper.run(function()
          local p, res = tide.deferred()
          local called = false
          s.on(p, function() called = true end)
          res(thenable(function(_, res2, rej2) s.pick(res2, rej2)(SENTINEL) end))
          assert.is_false(called)
          local p2 = tide.promise(function(res2)
            res2(thenable(function(_, res3, rej3) s.pick(res3, rej3)(SENTINEL) end))
          end)
          local called2 = false
          s.on(p2, function() called2 = true end)
          assert.is_false(called2)
          wait()
          assert.is_true(called)
          assert.is_true(called2)
        end)
      end)

      it("the task that calls next keeps running until it waits; " .. H .. " runs only then", function()
        helper.run(function()
          local p = s.settled(SENTINEL)
          local called = false
          s.on(p, function() called = true end)
          for _ = 1, 1000 do s.on(p, nop) end
          local before = called
          tide.sleep(0):await()
          assert.is_false(before)
          assert.is_true(called)
        end)
      end)
    end)
  end

  -------------------------------------------------------------------------
  for _, s in ipairs(SIDES) do
    local H = s.handler
    describe("2.2.5 " .. H .. " is called as a plain function", function()
      it_ways(s.ways, H .. " gets exactly one argument", function(make)
        local p, settle = make(SENTINEL)
        local args
        s.on(p, helper.expect(1, function(...) args = table.pack(...) end))
        settle()
        wait()
        assert.equal(1, args.n)
        assert.is_true(rawequal(SENTINEL, args[1]))
      end)

      it("extra arguments given to the deferred's resolving function are not passed on", function()
        helper.run(function()
          local p, settle = s.pending()
          local args
          s.on(p, function(...) args = table.pack(...) end)
          settle(SENTINEL, OTHER, OTHER)
          wait()
          assert.equal(1, args.n)
          assert.is_true(rawequal(SENTINEL, args[1]))
        end)
      end)

      it("extra arguments given to a thenable's resolving function are not passed on", function()
        helper.run(function()
          local args
          local p = tide.resolve(thenable(function(_, res, rej) s.pick(res, rej)(SENTINEL, OTHER) end))
          s.on(p, function(...) args = table.pack(...) end)
          wait()
          assert.equal(1, args.n)
          assert.is_true(rawequal(SENTINEL, args[1]))
        end)
      end)
    end)
  end

  -------------------------------------------------------------------------
  for _, s in ipairs(SIDES) do
    local H = s.handler
    describe(s.order_clause .. " next may be called many times on one " .. s.state .. " promise", function()
      it_ways(s.ways, "every " .. H .. " runs, in the order of the next calls", function(make)
        local p, settle = make(SENTINEL)
        local order = {}
        for i = 1, 5 do s.on(p, function(v) order[#order + 1] = rawequal(v, SENTINEL) and i or -i end) end
        settle()
        wait()
        assert.same({ 1, 2, 3, 4, 5 }, order)
      end)

      it_ways(s.ways, "every " .. H .. " runs once even when one of them raises", function(make)
        local p, settle = make(SENTINEL)
        local h1, h3 = helper.expect(1), helper.expect(1)
        local h2 = helper.expect(1, function() error(OTHER, 0) end)
        local a, b, c = s.on(p, h1), s.on(p, h2), s.on(p, h3)
        settle()
        assert_fulfilled(a, nil)
        assert_rejected(b, OTHER)
        assert_fulfilled(c, nil)
      end)

      it_ways(s.ways, "the handlers give branching chains with their own outcomes", function(make)
        local p, settle = make(SENTINEL)
        local a = s.on(p, function() return "a" end)
        local b = s.on(p, function() error(OTHER, 0) end)
        local c = s.on(p, function(v) return v end)
        local d = s.on(p, function() return tide.reject("d") end)
        settle()
        assert_fulfilled(a, "a")
        assert_rejected(b, OTHER)
        assert_fulfilled(c, SENTINEL)
        assert_rejected(d, "d")
      end)

      it("handlers added before and after the promise settles run in the order of their next calls", function()
        helper.run(function()
          local p, settle = s.pending()
          local order = {}
          local function h(i) return function() order[#order + 1] = i end end
          s.on(p, h(1))
          s.on(p, h(2))
          settle(SENTINEL)
          s.on(p, h(3))
          s.on(p, h(4))
          wait()
          s.on(p, h(5))
          wait()
          assert.same({ 1, 2, 3, 4, 5 }, order)
        end)
      end)

      it("a handler added inside another runs after the handlers already added", function()
        helper.run(function()
          local p, settle = s.pending()
          local order = {}
          s.on(p, function()
            order[#order + 1] = 1
            s.on(p, function() order[#order + 1] = 3 end)
          end)
          s.on(p, function() order[#order + 1] = 2 end)
          settle(SENTINEL)
          wait()
          assert.same({ 1, 2, 3 }, order)
        end)
      end)

      it("next calls with only " .. s.other .. " in between do not disturb the order", function()
        helper.run(function()
          local p, settle = s.pending()
          local order = {}
          s.on(p, function() order[#order + 1] = 1 end)
          s.on(p, nil, helper.expect(0))
          p:next()
          s.on(p, function() order[#order + 1] = 2 end, helper.expect(0))
          s.on(p, nil, helper.expect(0))
          s.on(p, function() order[#order + 1] = 3 end)
          settle(SENTINEL)
          wait()
          assert.same({ 1, 2, 3 }, order)
        end)
      end)

      it("two hundred handlers run in order, each once", function()
        helper.run(function()
          local p, settle = s.pending()
          local order, want = {}, {}
          for i = 1, 200 do
            want[i] = i
            s.on(p, function() order[#order + 1] = i end)
          end
          settle(SENTINEL)
          wait()
          assert.same(want, order)
        end)
      end)
    end)
  end

  -------------------------------------------------------------------------
  describe("2.2.7 next returns a promise", function()
    local promise_mt = getmetatable(tide.deferred())

    for _, s in ipairs(SIDES) do
      it_ways(s.ways, "p:next(...) returns a tide promise, whatever the handlers", function(make)
        local p, settle = make(SENTINEL)
        local derived = { p:next(), p:next(nop), p:next(nil, nop), p:next(nop, nop), p:next(5, "x") }
        settle()
        for i, p2 in ipairs(derived) do
          assert.equal(promise_mt, getmetatable(p2), "next #" .. i)
          assert.is_string(p2:state())
        end
        wait()
        for i, p2 in ipairs(derived) do assert.is_true(p2:state() ~= "pending", "next #" .. i .. " settles") end
      end)
    end

    for _, s in ipairs(SIDES) do
      local H = s.handler

      it("2.2.7.1 a value " .. H .. " returns fulfills promise2 with it, for any value", function()
        helper.run(function()
          local derived = {}
          for i, v in ipairs(VALUES) do derived[i] = s.on(s.settled(DUMMY), function() return v[2] end) end
          for i, v in ipairs(VALUES) do assert_fulfilled(derived[i], v[2], v[1]) end
        end)
      end)

      it("2.2.7.1 " .. H .. " returning nothing fulfills promise2 with nil", function()
        helper.run(function()
          local p2 = s.on(s.settled(DUMMY), function() end)
          assert_fulfilled(p2, nil)
          local state, value = p2:peek()
          assert.equal("fulfilled", state)
          assert.is_nil(value)
        end)
      end)

      it("2.2.7.1 " .. H .. " returning several values fulfills promise2 with the first", function()
        helper.run(function()
          local args
          local p2 = s.on(s.settled(DUMMY), function() return SENTINEL, OTHER, OTHER end)
          p2:next(function(...) args = table.pack(...) end)
          assert_fulfilled(p2, SENTINEL)
          wait()
          assert.equal(1, args.n)
        end)
      end)

      it("2.2.7.2 " .. H .. " raising e rejects promise2 with that very e, for any value", function()
        helper.run(function()
          local derived = {}
          for i, v in ipairs(VALUES) do derived[i] = s.on(s.settled(DUMMY), function() error(v[2], 0) end) end
          for i, v in ipairs(VALUES) do assert_rejected(derived[i], v[2], v[1]) end
        end)
      end)

      it("2.2.7.2 " .. H .. " raising a message rejects promise2 with the message as pcall would see it", function()
        helper.run(function()
          local function boom() error("boom") end
          local _, want = pcall(boom)
          assert_rejected(s.on(s.settled(DUMMY), boom), want)
        end)
      end)

      it("2.2.7.2 " .. H .. " raising a tide promise or a thenable rejects promise2 with it, unadopted", function()
        helper.run(function()
          local settled_p = tide.resolve(OTHER)
          local x = thenable(helper.expect(0))
          assert_rejected(s.on(s.settled(DUMMY), function() error(settled_p) end), settled_p)
          assert_rejected(s.on(s.settled(DUMMY), function() error(x) end), x)
        end)
      end)

      it("2.2.7.2 an error caught inside " .. H .. " does not count; the one it raises does", function()
        helper.run(function()
          local p2 = s.on(s.settled(DUMMY), function()
            pcall(error, OTHER)
            error(SENTINEL)
          end)
          assert_rejected(p2, SENTINEL)
        end)
      end)
    end

    for _, s in ipairs(SIDES) do
      local c, H = s.passthrough_clause, s.handler
      describe(("%s if %s is not a function and promise1 is %s"):format(c, H, s.state), function()
        it_ways(core_ways(s.ways), "promise2 is " .. s.state .. " with the same value, for any value", function(make)
          local derived = {}
          for i, v in ipairs(VALUES) do
            local p, settle = make(v[2])
            derived[i] = s.on(p, nil, helper.expect(0))
            settle()
          end
          for i, v in ipairs(VALUES) do s.assert_outcome(derived[i], v[2], v[1]) end
        end)

        for _, nc in ipairs(NON_CALLABLE) do
          it(("%s = %s: promise2 is %s with the same value"):format(H, nc[1], s.state), function()
            helper.run(function()
              s.assert_outcome(s.on(s.settled(SENTINEL), nc[2], helper.expect(0)), SENTINEL)
            end)
          end)
        end

        it("the outcome passes unchanged through ten thousand links without " .. H, function()
          helper.run(function()
            local p = s.settled(SENTINEL)
            for _ = 1, 10000 do p = s.on(p, nil, helper.expect(0)) end
            s.assert_outcome(p, SENTINEL)
          end)
        end)
      end)
    end

    it("a rejection skips fulfillment-only links until onRejected, whose value fulfills the rest", function()
      helper.run(function()
        local seen = {}
        local p = tide.reject(SENTINEL)
          :next(helper.expect(0))
          :next(helper.expect(0))
          :next(nil, function(e) seen[#seen + 1] = e; return OTHER end)
          :next(function(v) seen[#seen + 1] = v; return "done" end, helper.expect(0))
        assert_fulfilled(p, "done")
        assert.is_true(rawequal(SENTINEL, seen[1]))
        assert.is_true(rawequal(OTHER, seen[2]))
      end)
    end)

    it("a raise in a chain skips fulfillment handlers until onRejected gets the raised value", function()
      helper.run(function()
        local got
        local p = tide.resolve(1)
          :next(function(v) return v + 1 end)
          :next(function() error(SENTINEL) end)
          :next(helper.expect(0))
          :next(nil, function(e) got = e; return 3 end)
        assert_fulfilled(p, 3)
        assert.is_true(rawequal(SENTINEL, got))
      end)
    end)
  end)

  -------------------------------------------------------------------------
  describe("2.3.1 resolving a promise with itself rejects it with a type error", function()
    it("onFulfilled returns promise2", function()
      helper.run(function()
        local p2
        p2 = tide.resolve(DUMMY):next(function() return p2 end)
        assert_type_error(p2)
      end)
    end)

    it("onRejected returns promise2", function()
      helper.run(function()
        local p2
        p2 = tide.reject(DUMMY):next(nil, function() return p2 end)
        assert_type_error(p2)
      end)
    end)

    it("onFulfilled of an eventually-fulfilled promise returns promise2", function()
      helper.run(function()
        local p2
        p2 = fulfilled_later(DUMMY):next(function() return p2 end)
        assert_type_error(p2)
      end)
    end)

    it("the deferred's resolve is given its own promise", function()
      helper.run(function()
        local p, res = tide.deferred()
        res(p)
        assert_type_error(p)
      end)
    end)

    it("the executor's resolve is later given its own promise", function()
      helper.run(function()
        local resolve
        local p = tide.promise(function(res) resolve = res end)
        later(function() resolve(p) end)
        assert_type_error(p)
      end)
    end)

    it("a thenable gives resolvePromise the promise that adopts it", function()
      helper.run(function()
        local p
        p = tide.resolve(thenable(function(_, res) res(p) end))
        assert_type_error(p)
      end)
    end)

    it("handlers of such a promise are called once, with the type error", function()
      helper.run(function()
        local got
        local p, res = tide.deferred()
        p:next(helper.expect(0), helper.expect(1, function(e) got = e end))
        res(p)
        wait()
        assert.is_true(tide.is_error(got, "type"))
      end)
    end)
  end)

  -------------------------------------------------------------------------
  describe("2.3.2 if x is a tide promise, the promise adopts its state", function()
    it_resolution("2.3.2.1 while x is pending the promise stays pending; it fulfills when x does", function()
      return tide.deferred()
    end, function(p, res)
      wait()
      assert.equal("pending", p:state())
      res(SENTINEL)
      assert_fulfilled(p, SENTINEL)
    end)

    it_resolution("2.3.2.1 while x is pending the promise stays pending; it rejects when x does", function()
      local x, _, rej = tide.deferred()
      return x, rej
    end, function(p, rej)
      wait()
      assert.equal("pending", p:state())
      rej(SENTINEL)
      assert_rejected(p, SENTINEL)
    end)

    it("2.3.2.1 while the promise follows a pending x, its own resolving functions are ignored", function()
      helper.run(function()
        local x, settle_x = tide.deferred()
        local p, res, rej = tide.deferred()
        p:next(helper.expect(1), helper.expect(0))
        res(x)
        res(OTHER)
        rej(OTHER)
        wait()
        assert.equal("pending", p:state())
        settle_x(SENTINEL)
        assert_fulfilled(p, SENTINEL)
      end)
    end)

    it("2.3.2.1 an executor that raises after resolving with a pending x still follows x", function()
      helper.run(function()
        local x, settle_x = tide.deferred()
        local p = tide.promise(function(res) res(x); error(OTHER, 0) end)
        wait()
        assert.equal("pending", p:state())
        settle_x(SENTINEL)
        assert_fulfilled(p, SENTINEL)
      end)
    end)

    it("2.3.2.1 the promise's own resolving functions, called while x.next is read, are ignored", function()
      helper.run(function()
        local p, res, rej = tide.deferred()
        res(setmetatable({}, { __index = function(_, k)
          if k == "next" then
            res(OTHER)
            rej(OTHER)
            return function(_, res2) later(function() res2(SENTINEL) end) end
          end
        end }))
        assert_fulfilled(p, SENTINEL)
      end)
    end)

    it("2.3.2.1 an executor that raises after resolving with a thenable still follows the thenable", function()
      helper.run(function()
        local p = tide.promise(function(res) res(fulfills_later(SENTINEL)); error(OTHER, 0) end)
        assert_fulfilled(p, SENTINEL)
      end)
    end)

    it("2.3.2.1 a promise that follows x which nothing else references still settles with it", function()
      helper.run(function()
        local settle_x, got
        do
          local x, res = tide.deferred()
          settle_x = res
          resolved_with(x):next(function(v) got = v end)
        end
        wait()
        collectgarbage("collect")
        collectgarbage("collect")
        settle_x(SENTINEL)
        wait()
        assert.is_true(rawequal(SENTINEL, got))
      end)
    end)

    it("2.3.2.2 adopting a tide promise fulfilled with any value fulfills with the same value", function()
      helper.run(function()
        local ps = {}
        for i, v in ipairs(VALUES) do ps[i] = resolved_with(tide.resolve(v[2])) end
        for i, v in ipairs(VALUES) do assert_fulfilled(ps[i], v[2], v[1]) end
      end)
    end)

    it("2.3.2.3 adopting a tide promise rejected with any value rejects with the same reason", function()
      helper.run(function()
        local ps = {}
        for i, v in ipairs(VALUES) do ps[i] = resolved_with(tide.reject(v[2])) end
        for i, v in ipairs(VALUES) do assert_rejected(ps[i], v[2], v[1]) end
      end)
    end)
  end)

  describe("2.3.2 and 2.3.3.3.1: x, or the y given to resolvePromise, fulfills or rejects", function()
    for _, y in ipairs(FULFILLING) do
      it_resolution(y[1] .. ": the promise fulfills with its value", function() return y[2](SENTINEL) end,
        function(p) assert_fulfilled(p, SENTINEL) end)
    end
    for _, y in ipairs(REJECTING) do
      it_resolution(y[1] .. ": the promise rejects with its reason", function() return y[2](SENTINEL) end,
        function(p) assert_rejected(p, SENTINEL) end)
    end
  end)

  -------------------------------------------------------------------------
  describe("2.3.3 if x is an object (a table or userdata with a metatable)", function()
    describe("2.3.3.1 the method is read once", function()
      it_resolution("x.next is read exactly once", function()
        return counting("next", function(_, res) res(SENTINEL) end)
      end, function(p, reads)
        assert_fulfilled(p, SENTINEL)
        assert.equal(1, reads.next)
      end)

      it_resolution("x.then is read exactly once (x has no next)", function()
        return counting("then", function(_, res) res(SENTINEL) end)
      end, function(p, reads)
        assert_fulfilled(p, SENTINEL)
        assert.equal(1, reads["then"])
        assert.equal(1, reads.next)
      end)

      it_resolution("an object without next or then has each read once", function()
        return counting("none")
      end, function(p, reads)
        local state = outcome(p)
        assert.equal("fulfilled", state)
        assert.equal(1, reads.next)
        assert.equal(1, reads["then"])
      end)
    end)

    describe("2.3.3.2 if reading the method raises e, the promise rejects with e", function()
      it("reading next raises e, for any value of e", function()
        helper.run(function()
          local ps = {}
          for i, v in ipairs(VALUES) do ps[i] = resolved_with(raising_getter("next", v[2])) end
          for i, v in ipairs(VALUES) do assert_rejected(ps[i], v[2], v[1]) end
        end)
      end)

      it_resolution("reading next raises", function() return raising_getter("next", SENTINEL) end,
        function(p) assert_rejected(p, SENTINEL) end)

      it_resolution("reading then raises (x has no next)", function() return raising_getter("then", SENTINEL) end,
        function(p) assert_rejected(p, SENTINEL) end)

      it("reading then raises a tide.error: the same table is the reason", function()
        helper.run(function()
          local e = tide.error("type", "from a getter")
          assert_rejected(resolved_with(raising_getter("then", e)), e)
        end)
      end)
    end)

    describe("2.3.3.3 if the method is callable it is called as next(x, resolvePromise, rejectPromise)", function()
      for _, form in ipairs(THENABLE_FORMS) do
        it(form[1] .. ": called once with x and two functions; resolvePromise fulfills", function()
          helper.run(function()
            local args
            local x = form[2](helper.expect(1, function(...)
              args = table.pack(...)
              args[2](SENTINEL)
            end))
            assert_fulfilled(resolved_with(x), SENTINEL)
            assert.is_true(rawequal(x, args[1]), "the first argument is x")
            assert.is_true(callable(args[2]), "resolvePromise is callable")
            assert.is_true(callable(args[3]), "rejectPromise is callable")
          end)
        end)

        it(form[1] .. ": rejectPromise rejects", function()
          helper.run(function()
            local x = form[2](helper.expect(1, function(_, _, rej) rej(SENTINEL) end))
            assert_rejected(resolved_with(x), SENTINEL)
          end)
        end)
      end

      it("each resolution gets its own resolving functions", function()
        helper.run(function()
          local calls = {}
          local x = thenable(function(_, res, rej) calls[#calls + 1] = { res, rej } end)
          local p1, p2 = resolved_with(x), resolved_with(x)
          wait()
          assert.equal(2, #calls)
          assert.is_false(rawequal(calls[1][1], calls[2][1]))
          calls[1][1]("one")
          calls[2][2]("two")
          assert_fulfilled(p1, "one")
          assert_rejected(p2, "two")
        end)
      end)

      it("what the method returns is ignored", function()
        helper.run(function()
          local p1 = resolved_with(thenable(function(_, res) res(SENTINEL); return OTHER end))
          local p2 = resolved_with(thenable(function() return tide.reject(OTHER) end))
          local p3 = resolved_with(thenable(function(_, _, rej)
            later(function() rej(SENTINEL) end)
            return tide.resolve(OTHER)
          end))
          assert_fulfilled(p1, SENTINEL)
          assert_rejected(p3, SENTINEL)
          wait()
          assert.equal("pending", p2:state())
        end)
      end)

      it("resolving functions saved by the method still work after a full garbage collection", function()
        helper.run(function()
          local saved, got
          resolved_with(thenable(function(_, res) saved = res end)):next(function(v) got = v end)
          wait()
          collectgarbage("collect")
          collectgarbage("collect")
          saved(SENTINEL)
          wait()
          assert.is_true(rawequal(SENTINEL, got))
        end)
      end)

      for _, when in ipairs { "at once", "later" } do
        it("2.3.3.3.1 resolvePromise(y) " .. when .. " with a non-thenable y fulfills with y, for any value",
          function()
            helper.run(function()
              local ps = {}
              for i, v in ipairs(VALUES) do
                ps[i] = resolved_with(thenable(function(_, res)
                  if when == "later" then later(function() res(v[2]) end) else res(v[2]) end
                end))
              end
              for i, v in ipairs(VALUES) do assert_fulfilled(ps[i], v[2], v[1]) end
            end)
          end)

        it("2.3.3.3.2 rejectPromise(r) " .. when .. " rejects with r, for any value", function()
          helper.run(function()
            local ps = {}
            for i, v in ipairs(VALUES) do
              ps[i] = resolved_with(thenable(function(_, _, rej)
                if when == "later" then later(function() rej(v[2]) end) else rej(v[2]) end
              end))
            end
            for i, v in ipairs(VALUES) do assert_rejected(ps[i], v[2], v[1]) end
          end)
        end)
      end

      it("2.3.3.3.2 rejectPromise(a tide promise) rejects with that promise itself, unadopted", function()
        helper.run(function()
          local r = tide.resolve(OTHER)
          assert_rejected(resolved_with(thenable(function(_, _, rej) rej(r) end)), r)
        end)
      end)

      it("2.3.3.3.2 rejectPromise(a thenable) rejects with the thenable itself, whose next is not called", function()
        helper.run(function()
          local r = thenable(helper.expect(0))
          assert_rejected(resolved_with(thenable(function(_, _, rej) rej(r) end)), r)
        end)
      end)
    end)

    describe("2.3.3.3.3 when the resolving functions are called more than once, the first call wins", function()
      local S, O = SENTINEL, OTHER
      local CASES = {
        { "resolvePromise, then rejectPromise", function(_, res, rej) res(S); rej(O) end, "fulfilled", S },
        { "rejectPromise, then resolvePromise", function(_, res, rej) rej(S); res(O) end, "rejected", S },
        { "resolvePromise twice", function(_, res) res(S); res(O) end, "fulfilled", S },
        { "rejectPromise twice", function(_, _, rej) rej(S); rej(O) end, "rejected", S },
        { "resolvePromise(nil), then resolvePromise", function(_, res) res(nil); res(S) end, "fulfilled", nil },
        { "rejectPromise(nil), then rejectPromise", function(_, _, rej) rej(nil); rej(S) end, "rejected", nil },
        { "resolvePromise(false), then rejectPromise", function(_, res, rej) res(false); rej(S) end, "fulfilled",
          false },
        { "resolvePromise at once, rejectPromise later", function(_, res, rej)
          res(S)
          later(function() rej(O) end)
        end, "fulfilled", S },
        { "rejectPromise at once, resolvePromise later", function(_, res, rej)
          rej(S)
          later(function() res(O) end)
        end, "rejected", S },
        { "resolvePromise later, rejectPromise even later", function(_, res, rej)
          later(function() res(S) end)
          later(function() rej(O) end, 2 * DELAY)
        end, "fulfilled", S },
        { "rejectPromise later, resolvePromise even later", function(_, res, rej)
          later(function() rej(S) end)
          later(function() res(O) end, 2 * DELAY)
        end, "rejected", S },
        { "resolvePromise with a thenable that fulfills later, then rejectPromise", function(_, res, rej)
          res(fulfills_later(S))
          rej(O)
        end, "fulfilled", S },
        { "resolvePromise with a thenable that rejects later, then resolvePromise", function(_, res)
          res(rejects_later(S))
          res(O)
        end, "rejected", S },
        { "resolvePromise with an eventually-fulfilled tide promise, then resolvePromise", function(_, res)
          res(fulfilled_later(S))
          res(O)
        end, "fulfilled", S },
        { "resolvePromise with an eventually-rejected tide promise, then resolvePromise", function(_, res)
          res(rejected_later(S))
          res(O)
        end, "rejected", S },
        { "resolvePromise with a thenable that never settles, then rejectPromise", function(_, res, rej)
          res(never_settles())
          rej(O)
        end, "pending" },
        { "resolvePromise with a tide promise that never settles, then resolvePromise", function(_, res)
          res((tide.deferred()))
          res(O)
        end, "pending" },
        { "resolvePromise with a thenable that calls its own functions several times", function(_, res)
          res(thenable(function(_, res2, rej2) res2(S); rej2(O); res2(O) end))
        end, "fulfilled", S },
        { "resolvePromise with a thenable that rejects and then resolves", function(_, res)
          res(thenable(function(_, res2, rej2) rej2(S); res2(O) end))
        end, "rejected", S },
        { "resolvePromise with a thenable that resolves first with a thenable that fulfills later", function(_, res)
          res(thenable(function(_, res2, rej2) res2(fulfills_later(S)); rej2(O) end))
        end, "fulfilled", S },
        { "resolvePromise(y), where reading y.next calls resolvePromise and rejectPromise again", function(_, res, rej)
          res(setmetatable({}, { __index = function(_, k)
            if k == "next" then
              res(O)
              rej(O)
              return function(_, res2) res2(S) end
            end
          end }))
        end, "fulfilled", S },
      }
      for _, case in ipairs(CASES) do
        it(case[1], function()
          helper.run(function()
            local p = resolved_with(thenable(case[2]))
            if case[3] == "pending" then
              wait()
              assert.equal("pending", p:state())
            else
              assert_outcome(p, case[3], case[4])
              wait()
              assert_outcome(p, case[3], case[4])
            end
          end)
        end)
      end

      it("the handlers of the promise run once, whatever further calls come", function()
        helper.run(function()
          local saved
          local p = resolved_with(thenable(function(_, res, rej)
            saved = { res, rej }
            res(S)
          end))
          p:next(helper.expect(1), helper.expect(0))
          wait()
          saved[1](O)
          saved[2](O)
          wait()
          assert_fulfilled(p, S)
        end)
      end)
    end)

    describe("2.3.3.3.4 if calling the method raises e", function()
      local S, O = SENTINEL, OTHER
      local AFTER = {
        { "after resolvePromise(v)", function(_, res) res(S); error(O, 0) end, "fulfilled", S },
        { "after rejectPromise(r)", function(_, _, rej) rej(S); error(O, 0) end, "rejected", S },
        { "after resolvePromise(nil)", function(_, res) res(nil); error(O, 0) end, "fulfilled", nil },
        { "after rejectPromise(nil)", function(_, _, rej) rej(nil); error(O, 0) end, "rejected", nil },
        { "after resolvePromise and rejectPromise", function(_, res, rej) res(S); rej(O); error(O, 0) end,
          "fulfilled", S },
        { "after resolvePromise with a thenable that fulfills later", function(_, res)
          res(fulfills_later(S))
          error(O, 0)
        end, "fulfilled", S },
        { "after resolvePromise with an eventually-fulfilled tide promise", function(_, res)
          res(fulfilled_later(S))
          error(O, 0)
        end, "fulfilled", S },
        { "after resolvePromise with a thenable that rejects later", function(_, res)
          res(rejects_later(S))
          error(O, 0)
        end, "rejected", S },
        { "after resolvePromise with a thenable that never settles", function(_, res)
          res(never_settles())
          error(O, 0)
        end, "pending" },
      }
      for _, case in ipairs(AFTER) do
        it("2.3.3.3.4.1 " .. case[1] .. ": the error is ignored", function()
          helper.run(function()
            local p = resolved_with(thenable(case[2]))
            if case[3] == "pending" then
              wait()
              assert.equal("pending", p:state())
            else
              assert_outcome(p, case[3], case[4])
            end
          end)
        end)
      end

      it("2.3.3.3.4.2 before either function was called: rejects with e, for any value of e", function()
        helper.run(function()
          local ps = {}
          for i, v in ipairs(VALUES) do ps[i] = resolved_with(thenable(function() error(v[2], 0) end)) end
          for i, v in ipairs(VALUES) do assert_rejected(ps[i], v[2], v[1]) end
        end)
      end)

      it("2.3.3.3.4.2 a saved resolvePromise called after the raise is ignored", function()
        helper.run(function()
          local saved
          local p = resolved_with(thenable(function(_, res)
            saved = res
            error(S, 0)
          end))
          assert_rejected(p, S)
          saved(O)
          wait()
          assert_rejected(p, S)
        end)
      end)

      it("2.3.3.3.4.2 an error('message') rejects with the message as pcall would see it", function()
        helper.run(function()
          local function boom() error("boom") end
          local _, want = pcall(boom)
          assert_rejected(resolved_with(thenable(boom)), want)
        end)
      end)
    end)

    describe("2.3.3.4 if the method is not callable, the promise fulfills with x", function()
      local FIELDS = {
        { "a number", 5 }, { "a string", "next" }, { "true", true }, { "false", false },
        { "a plain table", {} }, { "a table with a metatable but no __call", setmetatable({}, {}) },
        { "a coroutine", coroutine.create(nop) },
      }
      for _, key in ipairs { "next", "then" } do
        for _, f in ipairs(FIELDS) do
          it(("x.%s is %s"):format(key, f[1]), function()
            helper.run(function()
              local x = setmetatable({ [key] = f[2] }, {})
              assert_fulfilled(resolved_with(x), x)
            end)
          end)
        end
      end

      it_resolution("neither next nor then is callable", function()
        local x = setmetatable({ next = 1, ["then"] = "then" }, {})
        return x, x
      end, function(p, x) assert_fulfilled(p, x) end)
    end)

    describe("tide's thenables", function()
      it_resolution("a table without a metatable is a value, even with callable next and then", function()
        local x = { next = helper.expect(0), ["then"] = helper.expect(0) }
        return x, x
      end, function(p, x) assert_fulfilled(p, x) end)

      it("next is tried first: when next and then are both callable, only next is called", function()
        helper.run(function()
          local x = setmetatable({}, { __index = {
            next = helper.expect(1, function(_, res) res(SENTINEL) end),
            ["then"] = helper.expect(0),
          } })
          assert_fulfilled(resolved_with(x), SENTINEL)
        end)
      end)

      it("when next is there but not callable, then is used", function()
        helper.run(function()
          local x = setmetatable({ next = 42 }, { __index = {
            ["then"] = helper.expect(1, function(_, res) res(SENTINEL) end),
          } })
          assert_fulfilled(resolved_with(x), SENTINEL)
        end)
      end)

      it("when next is callable, then is not read: a then getter that raises does no harm", function()
        helper.run(function()
          local next_fn = helper.expect(1, function(_, res) res(SENTINEL) end)
          local x = raising_getter("then", OTHER, { next = next_fn })
          assert_fulfilled(resolved_with(x), SENTINEL)
        end)
      end)

      it("a getter for next that raises rejects, even when then is callable", function()
        helper.run(function()
          local x = raising_getter("next", SENTINEL, { ["then"] = helper.expect(0) })
          assert_rejected(resolved_with(x), SENTINEL)
        end)
      end)

      it("a userdata whose metatable gives it a callable next is a thenable", function()
        local methods = getmetatable(io.stderr).__index
        helper.run(function()
          local self_arg
          local state, got
          with_field(methods, "next", function(self, res)
            self_arg = self
            res(SENTINEL)
          end, function()
            state, got = outcome(resolved_with(io.stderr))
          end)
          assert.equal("fulfilled", state)
          assert.is_true(rawequal(SENTINEL, got))
          assert.is_true(rawequal(io.stderr, self_arg))
        end)
      end)

      it("a userdata whose metatable gives it a callable then that rejects is a thenable", function()
        local methods = getmetatable(io.stderr).__index
        helper.run(function()
          local state, got
          with_field(methods, "then", function(_, _, rej) rej(SENTINEL) end, function()
            state, got = outcome(resolved_with(io.stderr))
          end)
          assert.equal("rejected", state)
          assert.is_true(rawequal(SENTINEL, got))
        end)
      end)

      it("a thenable for a thenable for ... a thousand levels deep is followed to its value", function()
        helper.run(function()
          local x = SENTINEL
          for i = 1, 1000 do
            local inner = x
            local function next_fn(_, res) res(inner) end
            x = i % 2 == 0 and thenable(next_fn) or then_thenable(next_fn)
          end
          assert_fulfilled(resolved_with(x), SENTINEL)
        end)
      end)

      it("a chain of a thousand promises, each returned by the handler of the next, settles", function()
        helper.run(function()
          local first, res = tide.deferred()
          local p = first
          for _ = 1, 1000 do
            local prev = p
            p = tide.resolve(DUMMY):next(function() return prev end)
          end
          later(function() res(SENTINEL) end)
          assert_fulfilled(p, SENTINEL)
        end)
      end)

      it("tide.resolve adopts a thenable", function()
        helper.run(function()
          assert_fulfilled(tide.resolve(fulfills_later(SENTINEL)), SENTINEL)
          assert_rejected(tide.resolve(rejects_at_once(SENTINEL)), SENTINEL)
        end)
      end)
    end)
  end)

  -------------------------------------------------------------------------
  describe("2.3.4 if x is not an object, the promise fulfills with x", function()
    for _, via in ipairs(RESOLVE_VIA) do
      it("nil, booleans, numbers, strings, functions and coroutines (x " .. via[1] .. ")", function()
        helper.run(function()
          local ps = {}
          for i, v in ipairs(PRIMITIVES) do ps[i] = via[2](v[2]) end
          for i, v in ipairs(PRIMITIVES) do assert_fulfilled(ps[i], v[2], v[1]) end
        end)
      end)
    end

    local METATABLED = {
      { "a string, while strings have next and then", "a string" },
      { "a number, while numbers have a metatable with next and then", 42 },
      { "a boolean, while booleans have a metatable with next and then", true },
      { "nil, while nil has a metatable with next and then", nil },
      { "a function, while functions have a metatable with next and then", nop },
      { "a coroutine, while coroutines have a metatable with next and then", coroutine.create(nop) },
    }
    for _, m in ipairs(METATABLED) do
      it(m[1], function()
        helper.run(function()
          local f = helper.expect(0)
          local state, got
          local function resolve_it() state, got = outcome(resolved_with(m[2])) end
          if type(m[2]) == "string" then
            with_field(string, "next", f, function() with_field(string, "then", f, resolve_it) end)
          else
            with_metatable(m[2], { __index = { next = f, ["then"] = f } }, resolve_it)
          end
          assert.equal("fulfilled", state)
          assert.is_true(rawequal(m[2], got))
        end)
      end)
    end
  end)
end)
