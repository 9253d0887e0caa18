--- fuzz/ops/promise.lua: operations for promises: making, settling, chaining, awaiting, inspecting.

return function(fz)
  local tide = fz.tide
  local S = fz.S
  local op, call, call_np, G, P, PV, A_prom, F = fz.op, fz.call, fz.call_np, fz.G, fz.P, fz.PV, fz.A_prom, fz.F
  local H, put, kind_of, task_watchdog, loop_running = fz.H, fz.put, fz.kind_of, fz.task_watchdog, fz.loop_running
  local settles_soon, note_rejection, settlers = fz.settles_soon, fz.note_rejection, fz.settlers
  local wrap_settler, make_thenable, raise_value, rand = fz.wrap_settler, fz.make_thenable, fz.raise_value, fz.rand
  local chance, PM, fz_await = fz.chance, fz.PM, fz.await

  local function make_executor()
    local mode = rand(7)
    return function(resolve, reject)
      if S.winding_down then return end
      if mode == 1 then
        resolve(PV())
      elseif mode == 2 then
        reject(raise_value())
      elseif mode == 3 then
        wrap_settler(resolve); wrap_settler(reject)
      elseif mode == 4 then
        error(raise_value(), 0)
      elseif mode == 5 then
        resolve(A_prom()); error(raise_value(), 0)
      elseif mode == 6 then
        local v = fz_await(P())
        resolve(v)
      else
        resolve(make_thenable())
      end
    end
  end

  op("tide.promise", 4, function() call("tide.promise", tide.promise, chance(0.6) and make_executor() or F()) end)

  op("tide.deferred", 5, function()
    local ok, p, res, rej = call_np("tide.deferred", tide.deferred)
    if ok and kind_of(p) == "promise" then
      put(p)
      settlers[p] = { res, rej }
      wrap_settler(res)
      wrap_settler(rej)
    end
  end)

  op("settle", 5, function()
    local s = G("settler")
    local r = rand(6)
    local v
    if r == 1 then v = A_prom() elseif r == 2 then v = make_thenable() elseif r == 3 then v = raise_value()
    else v = PV() end
    call("resolve/reject", s, v)
  end)

  op("tide.resolve", 4, function()
    call("tide.resolve", tide.resolve, chance(0.3) and make_thenable() or (chance(0.3) and A_prom() or P()))
  end)
  op("tide.reject", 3, function() call("tide.reject", tide.reject, raise_value()) end)
  op("thenable", 2, function() put(make_thenable()) end)

  op("p:next", 7, function() call("p:next", PM.next, A_prom(), H(), H()) end)
  op("p:catch", 4, function() call("p:catch", PM.catch, A_prom(), H()) end)
  op("p:finally", 3, function() call("p:finally", PM.finally, A_prom(), H()) end)
  op("p:state", 2, function() call("p:state", PM.state, A_prom()) end)
  op("p:peek", 2, function() call("p:peek", PM.peek, A_prom()) end)
  op("tostring", 3, function() call("tostring", tostring, chance(0.7) and A_prom(0.3) or P()) end)
  op("await", 9, function() call("await", fz_await, A_prom(0.7)) end)
  op("await-raw", 2, function()
    -- tide.await / pawait / p:await straight, on anything (in a task under a
    -- watchdog; at the top level only what settles soon).
    local x = A_prom(0.6)
    local cur = tide.current()
    local wd = cur and task_watchdog(cur, 0.01)
    local _ <close> = wd
    if cur == nil and not loop_running() and not settles_soon(x) then return end
    local r = rand(3)
    if r == 1 then call("tide.await", tide.await, x)
    elseif r == 2 then
      local ok, okv, v = call("tide.pawait", tide.pawait, x)
      if ok and okv == false then note_rejection("tide.pawait", v) end
    else call("p:await", PM.await, x) end
  end)
  op("tick", 4, function() call("tick", fz_await, tide.sleep(chance(0.8) and 0 or 0.001)) end)
  op("queue_microtask", 3, function() call("queue_microtask", tide.queue_microtask, F(), P()) end)
end
