--- fuzz/ops/combinators.lua: operations for combinators: all, all_settled, race, any over lists of
-- promises, thenables and others.

return function(fz)
  local tide = fz.tide
  local op, call, promise_list, choose = fz.op, fz.call, fz.promise_list, fz.choose

  op("combinator", 7, function()
    local name = choose { "all", "all_settled", "race", "any" }
    call("tide." .. name, tide[name], promise_list())
  end)
end
