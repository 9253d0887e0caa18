-- Regression of issue 15 (hostile input): tide called from a finalizer that
-- runs after tide's context was freed at lua_close (an object given a __gc
-- before `require "tide"` is finalized after it). Every call must raise a
-- clear error instead of touching freed memory (run under ASan by
-- `make test-asan`; the child inherits its preload).
local helper = require "spec.helper"

describe("tide at interpreter shutdown", function()
  it("raises a clear error in finalizers that run after its own", function()
    local out, status = helper.lua([[
      local tide, core, objs
      local guard = setmetatable({}, { __gc = function()
        local calls, raised, message = 0, 0, nil
        local function try(f, ...)
          calls = calls + 1
          local ok, err = pcall(f, ...)
          if not ok then
            raised = raised + 1
            message = message or tostring(err)
          end
        end
        -- Every function of every module, with a few kinds of arguments,
        -- and every method of a few live objects.
        for _, mod in ipairs { core, tide, tide.fs, tide.http } do
          for name, f in pairs(mod) do
            if type(f) == "function" and name ~= "run" then
              try(f); try(f, objs.p); try(f, objs.t, 1); try(f, function() end)
            end
          end
        end
        for _, o in pairs(objs) do
          local mt = getmetatable(o)
          local index = type(mt) == "table" and mt.__index
          if type(index) == "table" then
            for _, m in pairs(index) do
              if type(m) == "function" then try(m, o); try(m, o, function() end) end
            end
          end
        end
        try(objs.resolve, 1)
        try(tide.run, function() end)
        try(tide.run)
        try(tide.sleep, 0.1)
        print("survived", calls > 100, raised > 50)
        print("message", message)
        local ok, err = pcall(tide.sleep, 0.1)
        print("sleep", ok, err)
      end })
      tide = require "tide"
      core = require "tide.core"
      _G.keep = guard
      tide.run(function()
        local d, resolve = tide.deferred()
        objs = { p = d, resolve = resolve, t = tide.spawn(function() d:await() end),
          timer = tide.set_timeout(function() end, 100), e = tide.error("x", "y") }
        objs.timer:unref()
      end)
      print("end")
    ]])
    assert.equal(0, status, out)
    assert.matches("survived\ttrue\ttrue", out, 1, true)
    assert.matches("sleep\tfalse\ttide cannot be used any more: the Lua state is closing "
      .. "(this finalizer runs after tide's own)", out, 1, true)
  end)
end)
