-- Streams: generators, combinators, laziness, iteration and closing.
local helper = require "spec.helper"
local tide = require "tide"

-- A generator of 1..n that counts what it produced.
local function counting(n)
  local produced = { n = 0 }
  local g = tide.generator(function(yield)
    for i = 1, n do
      produced.n = produced.n + 1
      yield(i)
    end
  end)
  return g, produced
end

describe("tide.generator", function()
  helper.setup()

  it("does not start until the first read", function()
    local started = false
    local g = tide.generator(function(yield) started = true; yield(1) end)
    tide.sleep(0.001):await()
    assert.is_false(started)
    assert.equal(1, g:read():await())
    assert.is_true(started)
    g:close()
  end)

  it("produces exactly what is asked for (back-pressure)", function()
    local g, produced = counting(100)
    assert.equal(1, g:pull())
    assert.equal(1, produced.n)
    assert.equal(2, g:pull())
    assert.equal(2, produced.n)
    g:close()
  end)

  it("ends with nil when the body returns", function()
    local g = tide.generator(function(yield) yield("a"); yield("b") end)
    assert.same({ "a", "b", n = 2 }, g:collect():await())
    assert.is_nil(g:pull())
  end)

  it("lets the body await between items", function()
    local g = tide.generator(function(yield)
      for i = 1, 3 do tide.sleep(0.001):await(); yield(i) end
    end)
    assert.same({ 1, 2, 3, n = 3 }, g:collect():await())
  end)

  it("raises the body's error to the reader", function()
    local e = {}
    local g = tide.generator(function(yield) yield(1); error(e) end)
    assert.equal(1, g:pull())
    local ok, err = pcall(g.pull, g)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("closing it cancels the body, whose cleanup runs", function()
    local cleaned = false
    local g = tide.generator(function(yield)
      local _ <close> = setmetatable({}, { __close = function() cleaned = true end })
      for i = 1, math.huge do yield(i) end
    end)
    assert.equal(1, g:pull())
    g:close()
    tide.sleep(0):await()
    assert.is_true(cleaned)
    assert.is_nil(g:pull())
  end)

  it("leaving a for loop over it closes it", function()
    local cleaned = false
    helper.run(function()
      for v in tide.generator(function(yield)
        local _ <close> = setmetatable({}, { __close = function() cleaned = true end })
        for i = 1, math.huge do yield(i) end
      end) do
        if v == 3 then break end
      end
    end)
    tide.sleep(0):await()
    assert.is_true(cleaned)
  end)

  it("a <close> variable closes it when its block ends", function()
    local cleaned = false
    do
      local g <close> = tide.generator(function(yield)
        local _ <close> = setmetatable({}, { __close = function() cleaned = true end })
        for i = 1, math.huge do yield(i) end
      end)
      assert.equal(1, g:pull())
    end
    tide.sleep(0):await()
    assert.is_true(cleaned)
  end)

  it("refuses to yield nil", function()
    local g = tide.generator(function(yield) yield(nil) end)
    local ok, err = pcall(g.pull, g)
    assert.is_false(ok)
    assert.matches("a generator cannot yield nil %(nil ends the stream%)", err)
  end)

  it("checks its argument", function()
    assert.has_error(function() tide.generator(1) end, "bad argument #1 to 'generator' (function expected, got number)")
  end)
end)

describe("stream combinators", function()
  helper.setup()

  it("take(3) of a generator makes it produce exactly three items", function()
    local g, produced = counting(100)
    assert.same({ 1, 2, 3, n = 3 }, g:take(3):collect():await())
    assert.equal(3, produced.n)
  end)

  it("map and filter may await, and stay lazy", function()
    local g, produced = counting(100)
    local s = g:map(function(x) tide.sleep(0):await(); return x * 10 end)
      :filter(function(x) tide.sleep(0):await(); return x % 20 == 0 end)
      :take(2)
    assert.same({ 20, 40, n = 2 }, s:collect():await())
    assert.equal(4, produced.n)
  end)

  it("each runs f for every item and waits for it", function()
    local seen = {}
    tide.stream.from { 1, 2, 3 }:each(function(x) tide.sleep(0.001):await(); seen[#seen + 1] = x end):await()
    assert.same({ 1, 2, 3 }, seen)
  end)

  it("an error in f rejects collect/each and closes the source", function()
    local cleaned = false
    local g = tide.generator(function(yield)
      local _ <close> = setmetatable({}, { __close = function() cleaned = true end })
      for i = 1, 10 do yield(i) end
    end)
    local ok, err = tide.pawait(g:map(function(x) if x == 2 then error("bad item", 0) end return x end):collect())
    assert.is_false(ok)
    assert.equal("bad item", err)
    g:close()
    tide.sleep(0):await()
    assert.is_true(cleaned)
  end)

  it("stream.from honours n for holes", function()
    local items = tide.stream.from({ 1, nil, 3, n = 3 }):collect():await()
    -- nil ends a stream, so a hole ends it
    assert.same({ 1, n = 1 }, items)
  end)

  it("iterates with for at the top level too", function()
    local got = {}
    for v in tide.stream.from { "x", "y" } do got[#got + 1] = v end
    assert.same({ "x", "y" }, got)
  end)

  it("read() gives promises, nil at the end", function()
    local s = tide.stream.from { 7 }
    assert.equal(7, s:read():await())
    assert.is_nil(s:read():await())
    assert.equal("tide.stream (ended)", tostring(s))
  end)

  it("collect and each follow a signal", function()
    local ctl = tide.abort_controller()
    local g = tide.generator(function(yield) for i = 1, math.huge do tide.sleep(0.001):await(); yield(i) end end)
    local p = g:collect { signal = ctl.signal }
    tide.sleep(0.005):await()
    ctl:abort("enough")
    assert.same({ false, "enough" }, { tide.pawait(p) })
    g:close()
  end)

  it("checks arguments", function()
    local s = tide.stream.from {}
    assert.has_error(function() s:map(1) end, "bad argument #1 to 'map' (function expected, got number)")
    assert.has_error(function() s:filter() end, "bad argument #1 to 'filter' (function expected, got nil)")
    assert.has_error(function() s:take(-1) end,
      "bad argument #1 to 'take' (non-negative integer expected, got integer)")
    assert.has_error(function() s:take(1.5) end, "bad argument #1 to 'take' (non-negative integer expected, got float)")
    assert.has_error(function() s.map(5, print) end,
      "bad argument #1 to 'map' (tide.stream expected; call it as stream:map(...))")
    assert.has_error(function() tide.stream.from(1) end, "bad argument #1 to 'from' (table expected, got number)")
    assert.has_error(function() tide.stream.from { n = "2" } end,
      "bad argument #1 to 'from' (list length must be an integer from 0 to 268435456, got string)")
    assert.has_error(function() s.pull(42) end,
      "bad argument #1 to 'pull' (tide.stream expected; call it as stream:pull(...))")
    assert.has_error(function() s.close({}) end,
      "bad argument #1 to 'close' (tide.stream expected; call it as stream:close(...))")
    assert.has_error(function() tide.stream.new(42) end, "bad argument #1 to 'new' (function expected, got number)")
    assert.has_error(function() tide.stream.new(print, 42) end,
      "bad argument #2 to 'new' (function expected, got number)")
    assert.has_error(function() tide.stream.lines(42) end, "bad argument #1 to 'lines' (function expected, got number)")
    local odd = tide.stream.lines(function() return 42 end)
    local ok, err = pcall(odd.pull, odd)
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "usage"))
    assert.equal("a lines source must give strings (got number)", err.message)
  end)
end)
