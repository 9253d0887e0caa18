--- fuzz/ops/patterns.lua: operations for patterns: retry, breaker, semaphore, map.

return function(fz)
  local tide = fz.tide
  local op, call, A, G, P, F, sig_opts = fz.op, fz.call, fz.A, fz.G, fz.P, fz.F, fz.sig_opts
  local value_list, chance, choose, SEM, BRK = fz.value_list, fz.chance, fz.choose, fz.SEM, fz.BRK

  local function retry_opts()
    if chance(0.15) then return nil end
    if chance(0.05) then return P() end
    local o = {}
    if chance(0.7) then o.attempts = choose { 1, 2, 3, 0, -1, 1.5, 0 / 0, "2", 5 } end
    if chance(0.9) then o.base = choose { 0, 0.001, 0.002, 0.01, -1, 0 / 0 } end
    if chance(0.2) then o.max = choose { 0, 0.01, 1, -1 } end
    if chance(0.2) then o.factor = choose { 0, 1, 2, 1e308 } end
    if chance(0.2) then o.jitter = choose { 0, 0.5, 1, -1 } end
    if chance(0.2) then o.should_retry = F() end
    if chance(0.2) then o.on_retry = F() end
    if chance(0.2) then o.signal = G("signal") end
    if chance(0.03) then o.bogus = true end
    return o
  end

  op("tide.retry", 3, function() call("tide.retry", tide.retry, F(), retry_opts()) end)
  op("tide.breaker", 2, function()
    local o = chance(0.8)
      and { threshold = choose { 1, 2, 5, 0, -1, 1.5 }, cooldown = choose { 0, 0.01, 1, -1, 0 / 0 } }
      or (chance(0.5) and P() or nil)
    call("tide.breaker", tide.breaker, o)
  end)
  op("b:call", 4, function() call("b:call", BRK.call, A("breaker"), F(), P()) end)
  op("b.state", 1, function()
    call("b.state", function(b) return b.state, b.failures, tostring(b) end, A("breaker"))
  end)
  op("tide.semaphore", 2, function()
    call("tide.semaphore", tide.semaphore, choose { 1, 2, 3, 0, -1, 1.5, "2", math.maxinteger, P() })
  end)
  op("sem:acquire", 3, function() call("sem:acquire", SEM.acquire, A("sem"), sig_opts()) end)
  op("sem:release", 3, function() call("sem:release", SEM.release, A("sem")) end)
  op("sem:with", 3, function() call("sem:with", SEM.with, A("sem"), F(), sig_opts()) end)
  op("tide.map", 3, function()
    local o
    if chance(0.6) then
      o = { concurrency = choose { 1, 2, 3, 0, -1, 1.5, nil }, signal = chance(0.2) and G("signal") or nil }
    elseif chance(0.2) then
      o = P()
    end
    call("tide.map", tide.map, value_list(), F(), o)
  end)
end
