--- fuzz/ops/scope.lua: operations for scopes: tide.scope with and without a function, spawn, cancel, <close> blocks.

return function(fz)
  local tide = fz.tide
  local op, call, A, P, F, put, blocking = fz.op, fz.call, fz.A, fz.P, fz.F, fz.put, fz.blocking
  local raise_value, sig_opts, rand, chance, SCOPE = fz.raise_value, fz.sig_opts, fz.rand, fz.chance, fz.SCOPE

  op("tide.scope(fn)", 3, function() call("tide.scope(fn)", tide.scope, F(), sig_opts()) end)
  op("tide.scope()", 1, function() call("tide.scope()", tide.scope) end)
  op("scope:spawn", 3, function() call("scope:spawn", SCOPE.spawn, A("scope"), F(), P()) end)
  op("scope:cancel", 1, function() call("scope:cancel", SCOPE.cancel, A("scope"), P()) end)
  op("scope block", 2, function()
    local n, fail, cancel = rand(3), chance(0.2), chance(0.3)
    blocking("scope block", function()
      local s <close> = tide.scope()
      put(s)
      for _ = 1, n do s:spawn(F(), P()) end
      if cancel then s:cancel(P()) end
      if fail then error(raise_value(), 0) end
      return s
    end)
  end)
end
