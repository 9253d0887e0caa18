-- Issue 10, bug 5: lost work was too quiet. An unhandled rejection was
-- printed but the script exited 0; a forgotten :await() gave "attempt to
-- call a nil value (method 'json')"; an aggregate error did not list its
-- causes. Now (DESIGN.md, "Diagnostics"): in a script an unhandled
-- rejection fails it once reported (exit status 1, <close> handlers run),
-- as in Node 15+; the interactive REPL only reports (a real `lua5.4 -i`,
-- driven through spec/support/repl.py); a handler set with
-- tide.on_unhandled replaces that policy; unknown fields of promises and
-- tasks say what is wrong.
local helper = require "spec.helper"
local tide = require "tide"

describe("issue 10: lost work is never silent", function()
  helper.setup()

  it("an unhandled rejection fails a script, after the report and the cleanup", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      local outer <close> = setmetatable({}, { __close = function() print("script cleanup") end })
      tide.run(function()
        local inner <close> = setmetatable({}, { __close = function() print("task cleanup") end })
        tide.spawn(function() error(tide.error("io", "nobody waits for me"), 0) end)
        tide.sleep(30):await()
        print("not reached")
      end)
      print("not reached either")
    ]])
    assert.equal(1, status, out)
    assert.matches("tide: unhandled rejection: io: nobody waits for me", out, 1, true)
    assert.matches("task cleanup\n", out, 1, true)
    assert.matches("script cleanup\n", out, 1, true)
    assert.matches("unhandled: the script stops: an unhandled rejection (reported above)\n" ..
      "caused by: io: nobody waits for me", out, 1, true)
    assert.is_nil(out:find("not reached", 1, true))
  end)

  it("a rejection at the very end of the main task fails the script too", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.run(function() tide.reject("dropped") return 1 end)
      print("not reached")
    ]])
    assert.equal(1, status, out)
    assert.matches("tide: unhandled rejection: dropped", out, 1, true)
    assert.is_nil(out:find("not reached", 1, true))
  end)

  it("a top-level await and a script on standard input fail the same way", function()
    local out, status = helper.lua("", [[
      local tide = require "tide"
      tide.reject("lost")
      tide.sleep(0.05):await()
      print("not reached")
    ]])
    assert.equal(1, status, out)
    assert.matches("tide: unhandled rejection: lost", out, 1, true)
    assert.is_nil(out:find("not reached", 1, true))
  end)

  it("a handler of one's own replaces the policy", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.on_unhandled(function(reason) print("seen", reason) end)
      tide.run(function() tide.reject("x"); tide.sleep(0.01):await() end)
      print("still running")
    ]])
    assert.equal(0, status, out)
    assert.matches("seen\tx\nstill running\n", out, 1, true)
  end)

  it("the interactive REPL only reports", function()
    local out = helper.repl({
      "tide = require 'tide'",
      "tide.reject('lost in the repl'); tide.sleep(0.05):await()",
      "print('back at the prompt')",
    })
    assert.matches("tide: unhandled rejection: lost in the repl", out, 1, true)
    assert.matches("back at the prompt", out, 1, true)
    assert.is_nil(out:find("the script stops", 1, true))
  end)

  it("a forgotten :await() says so", function()
    helper.run(function()
      local p = tide.sleep(0)
      local ok, err = pcall(function() return p:json() end)
      assert.is_false(ok)
      assert.matches("10%-lost%-work_spec.lua:%d+: tide.promise has no field 'json' " ..
        "%(did you forget :await%(%)%?%)", err)
      local t = tide.spawn(function() return { body = "x" } end)
      ok, err = pcall(function() return t.body end)
      assert.is_false(ok)
      assert.matches("tide.task has no field 'body' (did you forget :await()?)", err, 1, true)
      ok, err = pcall(function() return tide.resolve(1).status end)
      assert.is_false(ok)
      assert.matches("tide.promise has no field 'status'", err, 1, true)
      -- What thenable detection and cancellability checks ask stays nil.
      assert.is_nil(tide.resolve(1)["then"])
      assert.is_nil(tide.resolve(1).cancel)
      assert.is_nil(tide.resolve(1).__name)
      assert.is_function(t.next)
      p:await()
    end)
  end)

  it("operations never awaited when tide.run's main task returns are reported", function()
    local out, status = helper.lua([[
      local tide = require "tide"
      tide.run(function()
        tide.fs.read("/etc/hostname")   -- a task: reported at exit if unfinished
        tide.sleep(0.2)                 -- an operation nobody awaits
        tide.sleep(0.3):next(print)     -- handled: not lost
      end)
      tide.run()
    ]])
    assert.equal(0, status, out)
    assert.matches("tide: 1 operation(s) were started and never awaited nor handled when " ..
      "tide.run's main task returned:\n  sleep", out, 1, true)
  end)

  it("at the REPL a rejected table shows what it holds; tasks() entries read well", function()
    local out = helper.repl({
      "tide = require 'tide'",
      "tide.reject({ code = 7, message = 'no such user' }):await()",
      "t = tide.spawn(function() tide.sleep(30):await() end)",
      "print(tide.tasks()[1])",
      "t:cancel()",
    })
    assert.matches("tide.await: the promise was rejected with a table: {", out, 1, true)
    assert.matches("code = 7", out, 1, true)
    assert.matches('message = "no such user"', out, 1, true)
    assert.matches("task tide.task (waiting) at stdin:1 awaiting tide.promise (pending)", out, 1, true)
  end)

  it("an aggregate error lists each cause", function()
    helper.run(function()
      local _, err = tide.pawait(tide.any { tide.reject("first"), tide.reject(tide.error("http", "second")) })
      assert.equal("aggregate: all 2 promises were rejected\n  [1] first\n  [2] http: second", tostring(err))
    end)
  end)
end)
