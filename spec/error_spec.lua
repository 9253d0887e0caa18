-- Errors: tide.error objects, tide.is_error, their tostring (with cause
-- chains), and errors raised by user code passing through tide unchanged.
local helper = require "spec.helper"
local tide = require "tide"

-- What reaches tide.on_unhandled during the test (the reasons).
local function capture_unhandled() return helper.capture_unhandled(finally) end

-- Values user code may raise: each must come out of tide as the very same
-- value (rawequal), never wrapped or turned into a string.
local function raisable_values()
  return {
    { "a table", { "user error" } },
    { "a tide.error", tide.error("custom", "raised by the user") },
    { "a string", "plain message" },
    { "a number", 42 },
    { "false", false },
    { "a coroutine", coroutine.create(function() end) },
  }
end

describe("tide.error", function()
  helper.setup()

  it("makes a table with kind and message and the tide.error metatable", function()
    local err = tide.error("timeout", "took too long")
    assert.equal("table", type(err))
    assert.equal("timeout", err.kind)
    assert.equal("took too long", err.message)
    assert.is_nil(err.cause)
    assert.equal("tide.error", getmetatable(err).__name)
    assert.equal(getmetatable(err), getmetatable(tide.error("other", "kind")))
  end)

  it("copies the fields table in, leaving that table alone", function()
    local root = tide.error("network", "connection reset")
    local fields = { cause = root, status = 502, url = "http://127.0.0.1/x", code = 56 }
    local err = tide.error("http", "bad gateway", fields)
    assert.is_false(rawequal(fields, err))
    assert.is_true(rawequal(root, err.cause))
    assert.equal(502, err.status)
    assert.equal("http://127.0.0.1/x", err.url)
    assert.equal(56, err.code)
    assert.equal("http", err.kind)
    assert.equal("bad gateway", err.message)
    assert.is_nil(getmetatable(fields))
    assert.same({ cause = root, status = 502, url = "http://127.0.0.1/x", code = 56 }, fields)
  end)

  it("takes kind and message from its arguments, not from the fields", function()
    local err = tide.error("http", "not found", { kind = "other", message = "other", status = 404 })
    assert.equal("http", err.kind)
    assert.equal("not found", err.message)
    assert.equal(404, err.status)
  end)

  it("accepts nil for the fields", function()
    local err = tide.error("closed", "channel closed", nil)
    assert.equal("closed", err.kind)
    assert.equal("channel closed", err.message)
  end)

  it("rejects a kind or message that is not a string", function()
    assert.has_error(function() tide.error() end,
      "bad argument #1 to 'error' (string expected, got no value)")
    assert.has_error(function() tide.error({}, "message") end,
      "bad argument #1 to 'error' (string expected, got table)")
    assert.has_error(function() tide.error("kind", {}) end,
      "bad argument #2 to 'error' (string expected, got table)")
    assert.has_error(function() tide.error("kind", true) end,
      "bad argument #2 to 'error' (string expected, got boolean)")
  end)

  it("rejects fields that are not a table", function()
    assert.has_error(function() tide.error("kind", "message", 5) end,
      "bad argument #3 to 'error' (table expected, got number)")
    assert.has_error(function() tide.error("kind", "message", "cause") end,
      "bad argument #3 to 'error' (table expected, got string)")
  end)
end)

describe("tide.is_error", function()
  helper.setup()

  it("is true for any tide.error, and checks the kind when given one", function()
    local err = tide.error("timeout", "slow")
    assert.is_true(tide.is_error(err))
    assert.is_true(tide.is_error(err, nil))
    assert.is_true(tide.is_error(err, "timeout"))
    assert.is_false(tide.is_error(err, "network"))
    assert.is_false(tide.is_error(err, "time"))
  end)

  it("is false for everything else, look-alikes included", function()
    local lookalike_mt = { __name = "tide.error", __tostring = function() return "fake" end }
    local values = {
      { "nil", nil },
      { "a string", "timeout: slow" },
      { "a number", 1 },
      { "a plain table with kind and message", { kind = "timeout", message = "slow" } },
      { "a table with another metatable named tide.error", setmetatable({ kind = "timeout" }, lookalike_mt) },
      { "a promise", tide.resolve(1) },
      { "a function", print },
    }
    for _, case in ipairs(values) do
      assert.equal(false, tide.is_error(case[2]), case[1])
      assert.equal(false, tide.is_error(case[2], "timeout"), case[1])
    end
    assert.equal(false, tide.is_error())
  end)

  it("recognises the errors tide itself raises", function()
    local ok, err = pcall(tide.await, tide.promise(function() end))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "deadlock"))
    assert.equal("tide.await is waiting on tide.promise (pending), but no work is left that could settle it",
      err.message)

    helper.run(function()
      local task = tide.spawn(function() tide.sleep(10):await() end)
      task:cancel("stop")
      local _, cancelled = tide.pawait(task)
      assert.is_true(tide.is_error(cancelled, "cancelled"))
      local _, aggregate = tide.pawait(tide.any {})
      assert.is_true(tide.is_error(aggregate, "aggregate"))
    end)
  end)

  it("rejects a kind that is not a string", function()
    assert.has_error(function() tide.is_error(tide.error("a", "b"), {}) end,
      "bad argument #2 to 'is_error' (string expected, got table)")
    assert.has_error(function() tide.is_error(nil, true) end,
      "bad argument #2 to 'is_error' (string expected, got boolean)")
  end)
end)

describe("tostring of a tide.error", function()
  helper.setup()

  it("is 'kind: message'", function()
    assert.equal("timeout: took too long", tostring(tide.error("timeout", "took too long")))
    assert.equal("http: 404 Not Found", tostring(tide.error("http", "404 Not Found", { status = 404 })))
  end)

  it("shows each cause of the chain on its own line", function()
    local root = tide.error("network", "connection reset", { code = 56 })
    local mid = tide.error("http", "GET /x failed", { cause = root })
    local top = tide.error("retry", "gave up after 3 attempts", { cause = mid })
    assert.equal("retry: gave up after 3 attempts\n"
      .. "caused by: http: GET /x failed\n"
      .. "caused by: network: connection reset", tostring(top))
    assert.equal("http: GET /x failed\ncaused by: network: connection reset", tostring(mid))
  end)

  it("shows a cause that is not a tide.error through tostring", function()
    local with = function(cause) return tostring(tide.error("io", "read failed", { cause = cause })) end
    assert.equal("io: read failed\ncaused by: EOF", with("EOF"))
    assert.equal("io: read failed\ncaused by: 42", with(42))
    assert.equal("io: read failed\ncaused by: false", with(false))
    assert.equal("io: read failed\ncaused by: custom text",
      with(setmetatable({}, { __tostring = function() return "custom text" end })))
    assert.matches("^io: read failed\ncaused by: table: 0x%x+$", with({}))
  end)

  it("ends the chain at the first cause that is not a tide.error", function()
    local inner = tide.error("hidden", "not shown")
    local wrapper = setmetatable({ cause = inner }, { __tostring = function() return "wrapper" end })
    local err = tide.error("outer", "failed", { cause = wrapper })
    assert.equal("outer: failed\ncaused by: wrapper", tostring(err))
  end)

  it("stops on a cycle of causes", function()
    local a = tide.error("a", "first")
    local b = tide.error("b", "second", { cause = a })
    a.cause = b
    local s = tostring(a)
    assert.equal("string", type(s))
    local start = "a: first\ncaused by: b: second\ncaused by: a: first\n"
    assert.equal(start, s:sub(1, #start))
    local lines = select(2, s:gsub("\n", "\n")) + 1
    assert.is_true(lines >= 3 and lines <= 64, ("%d lines"):format(lines))
  end)

  it("is what the default unhandled-rejection report shows", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.reject(tide.error("outer-kind", "outer message",
        { cause = tide.error("inner-kind", "inner message", { cause = "root cause" }) }))
      tide.run()
    ]])
    assert.equal(1, status)
    assert.matches("outer-kind: outer message\ncaused by: inner-kind: inner message\ncaused by: root cause",
      out, 1, true)
  end)
end)

describe("errors raised by user code", function()
  helper.setup()

  it("come out of tide.run unchanged", function()
    for _, case in ipairs(raisable_values()) do
      local ok, err = pcall(tide.run, function() error(case[2], 0) end)
      assert.is_false(ok, case[1])
      assert.is_true(rawequal(case[2], err), case[1])
      ok, err = pcall(tide.run, function()
        tide.sleep(0):await()
        error(case[2], 0)
      end)
      assert.is_false(ok, case[1])
      assert.is_true(rawequal(case[2], err), case[1])
    end
  end)

  it("keep the position Lua adds to a string, and nothing else", function()
    local line
    local ok, err = pcall(tide.run, function()
      line = debug.getinfo(1, "l").currentline + 1
      error("with position")
    end)
    assert.is_false(ok)
    assert.equal("spec/error_spec.lua:" .. line .. ": with position", err)
  end)

  it("are not also reported as unhandled when tide.run raises them", function()
    local reports = capture_unhandled()
    local raised = { "main task failure" }
    local ok, err = pcall(tide.run, function() error(raised) end)
    assert.is_false(ok)
    assert.is_true(rawequal(raised, err))
    ok, err = pcall(tide.run, function()
      tide.sleep(0):await()
      error(raised)
    end)
    assert.is_false(ok)
    assert.is_true(rawequal(raised, err))
    tide.run()
    assert.same({}, reports)
  end)

  it("come out of await and pawait in a task unchanged", function()
    for _, case in ipairs(raisable_values()) do
      helper.run(function()
        local failing = function()
          tide.sleep(0):await()
          error(case[2], 0)
        end
        local ok, err = pcall(function() return tide.spawn(failing):await() end)
        assert.is_false(ok, case[1])
        assert.is_true(rawequal(case[2], err), case[1])
        ok, err = tide.pawait(tide.spawn(failing))
        assert.is_false(ok, case[1])
        assert.is_true(rawequal(case[2], err), case[1])
        ok, err = pcall(tide.await, tide.reject(case[2]))
        assert.is_false(ok, case[1])
        assert.is_true(rawequal(case[2], err), case[1])
      end)
    end
  end)

  it("come out of next handlers, executors and combinators unchanged", function()
    for _, case in ipairs(raisable_values()) do
      local v = case[2]
      helper.run(function()
        local function check(p, what)
          local ok, err = tide.pawait(p)
          assert.is_false(ok, case[1] .. " " .. what)
          assert.is_true(rawequal(v, err), case[1] .. " " .. what)
        end
        check(tide.resolve(1):next(function() error(v, 0) end), "next")
        check(tide.reject("first"):catch(function() error(v, 0) end), "catch")
        check(tide.promise(function() error(v, 0) end), "executor")
        check(tide.reject(v):next(function() return "not called" end), "passed through next")
        check(tide.all { 1, tide.sleep(0):next(function() error(v, 0) end) }, "all")
        check(tide.race { tide.sleep(0):next(function() error(v, 0) end) }, "race")
        local settled = tide.all_settled({ tide.reject(v) }):await()
        assert.is_true(rawequal(v, settled[1].reason), case[1] .. " all_settled")
        local _, agg = tide.pawait(tide.any { tide.reject(v) })
        assert.is_true(rawequal(v, agg.errors[1]), case[1] .. " any")
      end)
    end
  end)

  it("reach on_unhandled unchanged from a timer callback", function()
    local reports = capture_unhandled()
    local values = raisable_values()
    for _, case in ipairs(values) do
      tide.set_timeout(function() error(case[2], 0) end, 0)
    end
    tide.run()
    assert.equal(#values, #reports)
    for i, case in ipairs(values) do
      assert.is_true(rawequal(case[2], reports[i]), case[1])
    end
  end)
end)
