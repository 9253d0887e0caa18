--- fuzz/ops/task.lua: operations for tasks: spawning, cancelling, listing, tide.run with and without
-- a function, coroutine.close on a task's coroutine.

return function(fz)
  local tide = fz.tide
  local S = fz.S
  local op, call, call_np, do_call, A, P, F, put = fz.op, fz.call, fz.call_np, fz.do_call, fz.A, fz.P, fz.F, fz.put
  local kind_of, loop_running, long_timeouts, finding = fz.kind_of, fz.loop_running, fz.long_timeouts, fz.finding
  local describe, reap, rand, chance, choose, TM = fz.describe, fz.reap, fz.rand, fz.chance, fz.choose, fz.TM

  op("tide.spawn", 7, function() call("tide.spawn", tide.spawn, F(), P(), P()) end)
  op("tide.async", 2, function()
    local ok, af = call("tide.async", tide.async, F())
    if ok and type(af) == "function" then call("async fn", af, P()) end
  end)
  op("tide.current", 1, function() call("tide.current", tide.current) end)
  op("tide.tasks", 2, function()
    local ok, list = call_np("tide.tasks", tide.tasks)
    if ok and type(list) == "table" then
      for i = 1, math.min(#list, 3) do
        local e = list[rand(#list)]
        if type(e) ~= "table" or kind_of(e.task) ~= "task" or (e.status ~= "waiting" and e.status ~= "running") then
          finding("tasks entry", "tide.tasks() gave a malformed entry: " .. describe(e) .. " at " .. i)
        else
          put(e.task)
          if e.awaiting ~= nil then put(e.awaiting) end
        end
      end
    end
  end)
  op("task:cancel", 5, function() call("task:cancel", TM.cancel, A("task"), P()) end)
  -- Diagnostics (issue 10): p:cancel on any promise, tide.handles, tide.dump, tide.debug.
  op("operation:cancel", 3, function() call("operation:cancel", fz.OPM.cancel, A("promise"), P()) end)
  op("tide.handles", 1, function()
    local ok, list = call_np("tide.handles", tide.handles)
    if ok then
      for i = 1, #list do
        local e = list[i]
        if type(e) ~= "table" or type(e.kind) ~= "string" then
          finding("handles entry", "tide.handles() gave a malformed entry: " .. describe(e) .. " at " .. i)
        elseif e.task ~= nil then
          put(e.task)
        elseif e.promise ~= nil then
          put(e.promise)
        end
      end
    end
  end)
  local dump_file = io.tmpfile()
  op("tide.dump", 1, function()
    dump_file:seek("set")
    call("tide.dump", tide.dump, chance(0.9) and dump_file or P())
  end)
  op("tide.debug", 1, function()
    local opts = chance(0.5) and {} or
      { slow = chance(0.8) and rand(5) / 1000 or P(), origins = chance(0.5), on_slow = function() end }
    call("tide.debug", tide.debug, opts)
  end)
  op("task:traceback", 2, function() call("task:traceback", TM.traceback, A("task")) end)
  op("cancel some tasks", 1, function()
    local ok, list = pcall(tide.tasks)
    if ok then
      for _ = 1, math.min(#list, rand(4)) do call("task:cancel", TM.cancel, list[rand(#list)].task, P()) end
    end
  end)
  -- tide.run with a nil first argument runs the loop until it is idle, where
  -- the watchdog must not send its interrupt: never through mangled arguments.
  local function run_idle()
    if tide.current() ~= nil or loop_running() then
      call_np("tide.run()", tide.run)
      return
    end
    -- At the top level it runs until no work is left: stop the work first.
    for p in pairs(long_timeouts) do
      if p:state() == "pending" then return end
    end
    local reaper = tide.set_timeout(function()
      S.quiesce = true
      reap("fuzz: tide.run()")
    end, 0.02)
    reaper:unref()
    S.noarg_run = true
    call_np("tide.run()", tide.run)
    S.noarg_run = false
    S.quiesce = false
    reaper:cancel()
  end
  op("tide.run(fn)", 1, function()
    local fn = F()
    if fn == nil then return run_idle() end
    do_call("tide.run(fn)", false, true, tide.run, fn, P())
  end)
  op("tide.run()", 1, function()
    if chance(0.15) then run_idle() end
  end)

  -- coroutine.close on a task's coroutine, from outside, while the task
  -- waits (the body hands its coroutine out through coroutine.running());
  -- then the task is cancelled, awaited, or left to the reaper. The task
  -- must settle, rejected, and cancel cleanly (issue 15 item 2).
  op("coroutine.close(task)", 2, function()
    local box = {}
    local wait = choose { 0, 0.001, 0.01 }
    local ok, t = call_np("tide.spawn", tide.spawn, function()
      box.co = coroutine.running()
      tide.sleep(wait):await()
      return "woke"
    end)
    if not ok or kind_of(t) ~= "task" or type(box.co) ~= "thread" then return end
    put(t)
    put(box.co)
    call_np("coroutine.close", coroutine.close, box.co)
    local r = rand(3)
    if r == 1 then
      call("task:cancel", TM.cancel, t, P())
    elseif r == 2 then
      call("await", fz.await, t)
    end
  end)
end
