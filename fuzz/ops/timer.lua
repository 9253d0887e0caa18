--- fuzz/ops/timer.lua: operations for time: sleeps, timeouts, intervals, timer methods, and <close>
-- on every kind of object.

return function(fz)
  local tide = fz.tide
  local S = fz.S
  local op, call, A, F, know, kind_of, blocking = fz.op, fz.call, fz.A, fz.F, fz.know, fz.kind_of, fz.blocking
  local nested_op, dur, sig_opts, rand, chance = fz.nested_op, fz.dur, fz.sig_opts, fz.rand, fz.chance
  local choose, TIMER = fz.choose, fz.TIMER

  local intervals = {}
  local function make_callback()
    if chance(0.4) then return F() end
    local k = rand(3)
    return function(...)
      if S.winding_down or S.quiesce then return end
      for i = 1, math.min(select("#", ...), 4) do know((select(i, ...))) end
      for _ = 1, k do nested_op() end
    end
  end

  op("tide.sleep", 6, function() call("tide.sleep", tide.sleep, dur(), sig_opts()) end)
  op("tide.set_timeout", 4, function() call("tide.set_timeout", tide.set_timeout, make_callback(), dur()) end)
  op("tide.set_interval", 2, function()
    local box, left = {}, rand(5)
    local cb = make_callback()
    local limited = function(...)
      left = left - 1
      if left <= 0 and box.t then pcall(TIMER.cancel, box.t) end
      if type(cb) == "function" then return cb(...) end
    end
    local ok, t = call("tide.set_interval", tide.set_interval, chance(0.9) and limited or cb, dur())
    if ok and kind_of(t) == "timer" then
      box.t = t
      intervals[#intervals + 1] = t
      if #intervals > 6 then pcall(TIMER.cancel, table.remove(intervals, 1)) end
    end
  end)
  op("timer:method", 4, function()
    local m = choose { "cancel", "cancel", "unref", "ref" }
    call("timer:" .. m, TIMER[m], A("timer"))
  end)
  op("<close>", 2, function()
    local kinds = { "timer", "stream", "channel", "scope", "response", "client", "promise", "tbl" }
    blocking("<close>", function(v)
      local _ <close> = v
    end, A(choose(kinds), 0.8))
  end)
  op("tide.now", 1, function() call("tide.now", tide.now) end)
end
