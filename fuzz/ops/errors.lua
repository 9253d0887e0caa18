--- fuzz/ops/errors.lua: operations for errors and introspection: tide.error, is_error, cause chains, on_unhandled.

return function(fz)
  local tide = fz.tide
  local S = fz.S
  local op, call, call_np, P, F, put, finding = fz.op, fz.call, fz.call_np, fz.P, fz.F, fz.put, fz.finding
  local describe, KINDS, rand, chance, choose = fz.describe, fz.KINDS, fz.rand, fz.chance, fz.choose
  local on_unhandled = fz.on_unhandled

  op("tide.error", 2, function()
    local fields = choose { nil, { cause = P(), status = 500 }, { kind = 42 }, { message = {} }, P() }
    call("tide.error", tide.error, chance(0.8) and choose(KINDS) or P(), chance(0.8) and "fuzz: message" or P(), fields)
  end)
  op("tide.is_error", 2, function() call("tide.is_error", tide.is_error, P(), chance(0.5) and choose(KINDS) or P()) end)
  op("error chains", 1, function()
    local e = tide.error(choose(KINDS), "fuzz: chain")
    local r = rand(3)
    if r == 1 then e.cause = e
    elseif r == 2 then e.cause = tide.error("fuzz", "inner", { cause = e })
    else e.cause = P() end
    put(e)
    call("tostring(err)", tostring, e)
  end)
  -- A handler whose own work fails unhandled is called again from the same
  -- drain, for ever (a known hang): the handler the fuzzer installs gives up
  -- after a few calls per step.
  op("tide.on_unhandled", 1, function()
    local h = chance(0.5) and F() or nil
    if type(h) == "function" then
      local f = h
      h = function(...)
        S.handler_calls = S.handler_calls + 1
        if S.handler_calls > 20 then return end
        return f(...)
      end
    end
    S.handler_calls = 0
    local ok, prev = call_np("tide.on_unhandled", tide.on_unhandled, h)
    if ok and h ~= nil and type(h) == "function" then
      S.handler_dirty = true -- put back at the next step
    elseif ok then
      pcall(tide.on_unhandled, on_unhandled)
    end
    if ok and type(prev) ~= "function" then finding("on_unhandled prev", "on_unhandled returned " .. describe(prev)) end
  end)
end
