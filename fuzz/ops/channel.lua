--- fuzz/ops/channel.lua: operations for channels: send, recv, try_*, close, pull, and the stream views.

return function(fz)
  local tide = fz.tide
  local op, call, A, P, F, blocking, sig_opts = fz.op, fz.call, fz.A, fz.P, fz.F, fz.blocking, fz.sig_opts
  local choose, CH = fz.choose, fz.CH

  op("tide.channel", 3, function()
    call("tide.channel", tide.channel, choose { nil, 0, 1, 2, 5, -1, 1.5, "3", math.huge, P() })
  end)
  op("ch:send", 5, function() call("ch:send", CH.send, A("channel"), P(), sig_opts()) end)
  op("ch:recv", 5, function() call("ch:recv", CH.recv, A("channel"), sig_opts()) end)
  op("ch:try_send", 3, function() call("ch:try_send", CH.try_send, A("channel"), P()) end)
  op("ch:try_recv", 3, function() call("ch:try_recv", CH.try_recv, A("channel")) end)
  op("ch:close", 2, function() call("ch:close", CH.close, A("channel")) end)
  op("ch:pull", 2, function() blocking("ch:pull", CH.pull, A("channel")) end)
  op("ch:view", 2, function()
    local m = choose { "map", "filter", "take", "collect", "each" }
    local arg1 = (m == "take") and choose { 0, 1, 2, -1, "x" } or (m == "collect" and sig_opts() or F())
    call("ch:" .. m, CH[m], A("channel"), arg1)
  end)
end
