--- fuzz/ops/cancel.lua: operations for cancellation: abort controllers, signals, tide.timeout.

return function(fz)
  local tide = fz.tide
  local S = fz.S
  local op, call, A, P, A_prom, F, kind_of = fz.op, fz.call, fz.A, fz.P, fz.A_prom, fz.F, fz.kind_of
  local raise_value, dur, sig_opts, small_list = fz.raise_value, fz.dur, fz.sig_opts, fz.small_list
  local long_timeouts, long_signals, chance, CTL, SIG = fz.long_timeouts, fz.long_signals, fz.chance, fz.CTL, fz.SIG

  op("abort_controller", 3, function() call("abort_controller", tide.abort_controller) end)
  op("ctl:abort", 3, function() call("ctl:abort", CTL.abort, A("ctl"), chance(0.2) and nil or raise_value()) end)
  op("signal fields", 2, function()
    call("signal fields", function(s) return s.aborted, s.reason, tostring(s) end, A("signal"))
  end)
  op("signal:on_abort", 3, function() call("signal:on_abort", SIG.on_abort, A("signal"), F()) end)
  op("signal:throw_if_aborted", 2, function() call("throw_if_aborted", SIG.throw_if_aborted, A("signal")) end)
  op("timeout_signal", 2, function()
    local d = dur()
    local ok, s = call("timeout_signal", tide.timeout_signal, d)
    d = S.last_args[1]
    if ok and kind_of(s) == "signal" and type(d) == "number" and d > 1 then long_signals[s] = true end
  end)
  op("any_signal", 2, function()
    call("any_signal", tide.any_signal, chance(0.9) and small_list(function() return A("signal") end, 3) or P())
  end)
  op("tide.timeout", 5, function()
    local d = dur()
    -- A long deadline on work that never ends leaves its timer pending (as
    -- it should): rare, and counted.
    if type(d) == "number" and d > 1 and not chance(0.05) then d = 1 end
    local ok, p = call("tide.timeout", tide.timeout, d, chance(0.5) and F() or A_prom(), sig_opts())
    d = S.last_args[1]
    if ok and type(d) == "number" and d > 1 then
      S.long_timeout_calls = S.long_timeout_calls + 1
      if kind_of(p) == "promise" then long_timeouts[p] = true end
    end
  end)
end
