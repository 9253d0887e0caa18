--- fuzz/ops/stream.lua: operations for streams: generators, from, new, lines, the stream methods, for-in loops.

return function(fz)
  local tide = fz.tide
  local op, call, do_call, A_stream, F, put = fz.op, fz.call, fz.do_call, fz.A_stream, fz.F, fz.put
  local blocking, sig_opts, value_list, bounded_source = fz.blocking, fz.sig_opts, fz.value_list, fz.bounded_source
  local gen_body, rand, chance, choose, ST = fz.gen_body, fz.rand, fz.chance, fz.choose, fz.ST

  op("tide.generator", 4, function() call("tide.generator", tide.generator, gen_body()) end)
  op("stream.from", 2, function() call("stream.from", tide.stream.from, value_list()) end)
  -- (No mangled arguments here: a pool function as the source could be an
  -- endless synchronous one, which spins forever, as it would anywhere.)
  local function not_a_source() return choose { 42, "x", {}, true, nil } end
  op("stream.new", 2, function()
    do_call("stream.new", false, true, tide.stream.new, chance(0.9) and bounded_source() or not_a_source(),
      chance(0.5) and F() or nil)
  end)
  op("stream.lines", 1, function()
    do_call("stream.lines", false, true, tide.stream.lines, chance(0.9) and bounded_source(true) or not_a_source(),
      chance(0.5) and F() or nil)
  end)
  op("s:read", 4, function() call("s:read", ST.read, A_stream()) end)
  op("s:pull", 3, function() blocking("s:pull", ST.pull, A_stream()) end)
  op("s:close", 2, function() call("s:close", ST.close, A_stream()) end)
  op("s:map/filter", 3, function()
    local m = chance(0.5) and "map" or "filter"
    call("s:" .. m, ST[m], A_stream(), F())
  end)
  op("s:take", 2, function()
    call("s:take", ST.take, A_stream(), choose { 0, 1, 2, 3, -1, 1.5, "2", math.maxinteger })
  end)
  op("s:collect", 2, function() call("s:collect", ST.collect, A_stream(), sig_opts()) end)
  op("s:each", 2, function() call("s:each", ST.each, A_stream(), F(), sig_opts()) end)
  op("for-in", 2, function()
    local k = rand(4)
    local closing = chance(0.5)
    blocking("for in", function(s)
      local i = 0
      if closing then
        for v in s, nil, nil, s do
          i = i + 1
          put(v)
          if i >= k then break end
        end
      else
        for v in s do
          i = i + 1
          put(v)
          if i >= k then break end
        end
      end
      return i
    end, A_stream(0.9))
  end)
end
