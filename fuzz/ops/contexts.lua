--- fuzz/ops/contexts.lua: operations for odd contexts: coroutines, calls where yielding is not allowed, GC, finalizers.

return function(fz)
  local S = fz.S
  local op, call, A, P, put, make_fn, nested_op = fz.op, fz.call, fz.A, fz.P, fz.put, fz.make_fn, fz.nested_op
  local rand, chance, fz_await = fz.rand, fz.chance, fz.await

  op("coroutine", 2, function()
    local f = chance(0.5) and make_fn() or function(...)
      nested_op()
      return fz_await(...)
    end
    local co = coroutine.create(f)
    put(co)
    call("coroutine.resume", coroutine.resume, co, P())
  end)
  op("resume a coroutine", 2, function()
    local co = A("co", 0.9)
    local r = rand(4)
    if r <= 2 then
      call("coroutine.resume", coroutine.resume, co, P())
    elseif r == 3 then
      call("coroutine.close", coroutine.close, co)
    else
      call("coroutine.status", coroutine.status, co)
    end
  end)
  op("not yieldable", 2, function()
    local r = rand(4)
    local inner = function()
      if chance(0.5) then nested_op() else pcall(fz_await, P()) end
    end
    if r == 1 then
      call("sort comparator", table.sort, { 3, 1, 2 }, function(a, b) inner(); return a < b end)
    elseif r == 2 then
      call("gsub callback", string.gsub, "abc", "%w", function(c) inner(); return c end)
    elseif r == 3 then
      call("__tostring", tostring, setmetatable({}, { __tostring = function() inner(); return "x" end }))
    else
      call("__index", function(t) return t.x end, setmetatable({}, { __index = function() inner(); return 1 end }))
    end
  end)
  op("gc", 1, function() collectgarbage(chance(0.3) and "collect" or "step") end)
  op("finalizer", 1, function()
    setmetatable({}, { __gc = function()
      if not S.winding_down then nested_op() end
    end })
  end)
end
