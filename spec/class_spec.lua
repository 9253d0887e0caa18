-- The C objects' classes: every method and metamethod checks its argument,
-- core.interpose is how Lua extends a class, and the limits shared with the
-- Lua layer come from the C core.
local helper = require "spec.helper"
local tide = require "tide"
local core = require "tide.core"

describe("C classes", function()
  helper.setup()

  it("every method and metamethod called on a foreign value raises a clean error", function()
    local p = tide.resolve(1)
    local t = tide.spawn(function() end)
    local tm = tide.set_timeout(function() end, 60)
    local foreign = { "x", 42, {}, io.stdout, p, t, tm }
    local checked = 0
    for _, obj in ipairs { p, t, tm } do
      local mt = getmetatable(obj)
      local fns = {}
      for k, f in pairs(mt) do
        if type(f) == "function" then fns[k] = f end
      end
      for k, f in pairs(mt.__index) do fns[k] = f end
      for name, f in pairs(fns) do
        for _, v in ipairs(foreign) do
          if getmetatable(v) ~= mt and not (mt == getmetatable(t) and v == p) then
            local ok, err = pcall(f, v)
            -- A promise method accepts a task (a task is a promise).
            if not (mt == getmetatable(p) and v == t) and name ~= "await" then
              assert.is_false(ok, mt.__name .. "." .. name)
              assert.is_string(tostring(err))
              checked = checked + 1
            end
          end
        end
      end
    end
    assert.is_true(checked > 30)
    assert.is_true(tm:cancel())
  end)

  it("getmetatable(p).__tostring('x') is a type error, not a crash", function()
    local ok, err = pcall(getmetatable(tide.resolve(1)).__tostring, "x")
    assert.is_false(ok)
    assert.matches("tide.promise expected", err, 1, true)
  end)

  it("core.interpose adds a method, returns the previous one, and tasks inherit it", function()
    local prev = core.interpose("tide.promise", "spec_probe", function() return "probe" end)
    assert.is_nil(prev)
    assert.equal("probe", tide.resolve(1):spec_probe())
    local t = tide.spawn(function() end)
    assert.equal("probe", t:spec_probe())
    local old = core.interpose("tide.promise", "spec_probe", nil)
    assert.is_function(old)
    -- Gone: asking for it is the error of an unknown field.
    assert.has_error(function() return tide.resolve(1).spec_probe end)
    assert.has_error(function() return t.spec_probe end)
  end)

  it("core.interpose leaves a method an heir overrides alone", function()
    local cancel = getmetatable(tide.spawn(function() end)).__index.cancel
    core.interpose("tide.promise", "cancel", function() return "promise's" end)
    local t = tide.spawn(function() end)
    assert.equal(cancel, t.cancel)
    core.interpose("tide.promise", "cancel", nil)
  end)

  it("core.interpose refuses unknown classes and the core's own metamethods", function()
    assert.is_false(pcall(core.interpose, "no.such.class", "x", print))
    for _, mm in ipairs { "__index", "__gc", "__name", "__metatable", "__mode" } do
      assert.is_false(pcall(core.interpose, "tide.promise", mm, print), mm)
    end
    assert.is_false(pcall(core.interpose, "tide.promise", "x", 42))
  end)

  it("the signal's methods come through interpose", function()
    local c = tide.abort_controller()
    assert.equal(core.signal_mt, getmetatable(c.signal))
    assert.equal("tide.signal (active)", tostring(c.signal))
    assert.is_function(c.signal.on_abort)
  end)

  it("limits shared with Lua are read from the C core", function()
    assert.equal(1 << 28, core.MAX_COUNT)
    assert.equal(core.MAX_COUNT, require("tide.check").MAX_COUNT)
    assert.equal(64 * 1024 * 1024, core.READ_MAX)
  end)
end)
