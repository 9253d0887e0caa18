--- fuzz/lib/watchdog.lua: hangs, the clean-up that stops everything the
-- fuzzer made, and the unhandled-rejection handler.
--
-- Every step of the driver beats; when no step has started for a while the
-- loop is stuck in a wait: first an interrupt as Ctrl-C would send (tide
-- cancels what the top level waits for), then everything is cancelled, and
-- if even that does not help it is a hang (exit status 3).

local concat = table.concat

return function(fz)
  local tide, core, cfg, S = fz.tide, fz.core, fz.cfg, fz.S
  local now = fz.now
  local TM, TIMER, CH, ST, CTL, RESP = fz.TM, fz.TIMER, fz.CH, fz.ST, fz.CTL, fz.RESP
  local safe_tostring, count, classify, finding, describe, kind_of =
    fz.safe_tostring, fz.count, fz.classify, fz.finding, fz.describe, fz.kind_of

  S.interrupts, S.reaps = 0, 0
  S.unhandled, S.callback_errors = 0, 0
  S.trail, S.trail_i = {}, 0  -- the last operations, for hang reports

  -- Clean-up: cancel and close everything the fuzzer made ------------------------

  local function cancel_all_tasks(why)
    local ok, list = pcall(tide.tasks)
    if not ok then return 0 end
    for _, e in ipairs(list) do pcall(TM.cancel, e.task, why) end
    return #list
  end

  function fz.reap(why)
    S.reaps = S.reaps + 1
    for t in pairs(fz.all_timers) do pcall(TIMER.cancel, t) end
    for ch in pairs(fz.all_channels) do pcall(CH.close, ch) end
    for s in pairs(fz.all_streams) do pcall(ST.close, s) end
    for s in pairs(fz.fs_streams) do pcall(ST.close, s) end
    for f in pairs(fz.fs_files) do pcall(f.close, f) end
    for ctl in pairs(fz.all_ctls) do pcall(CTL.abort, ctl, why) end
    for _, r in pairs(fz.settlers) do pcall(r[2], why) end
    for res in pairs(fz.all_responses) do pcall(RESP.close, res) end
    cancel_all_tasks(why)
    -- An operation nobody owns (a sleep, a request, a read started at the top
    -- level) is stopped the way tide.timeout stops what it races.
    for p in pairs(fz.all_promises) do
      if p:state() == "pending" then
        local ok, t = pcall(tide.timeout, 0, p)
        if ok then t:catch(function() end) end
      end
    end
  end

  -- The stall watchdog ----------------------------------------------------------------

  S.heartbeat = now()
  S.frame = 0              -- the current top-level frame (one SIGINT each)
  local sigint_frame = -1
  S.noarg_run = false      -- inside tide.run(): no interrupt handler there
  local escalation = 0

  do
    local f = io.open("/proc/self/stat")
    fz.PID = f and f:read("n")
    if f then f:close() end
  end

  function fz.beat()
    S.heartbeat = now()
    escalation = 0
  end

  function fz.stats()
    local ok, s = pcall(core.stats)
    return ok and s or {}
  end

  function fz.describe_tasks(limit)
    local lines = {}
    local ok, list = pcall(tide.tasks)
    if not ok then return "  (tide.tasks() failed)" end
    for i, e in ipairs(list) do
      if i > limit then
        lines[#lines + 1] = ("  ... %d more"):format(#list - limit)
        break
      end
      lines[#lines + 1] = ("  %s %s at %s"):format(safe_tostring(e.task), tostring(e.status), tostring(e.where))
    end
    return concat(lines, "\n")
  end

  function fz.hang(why)
    local s = fz.stats()
    local ops, trail = {}, S.trail
    for i = 1, #trail do ops[#ops + 1] = trail[(S.trail_i + i - 1) % #trail + 1] end
    io.stdout:write(("fuzz: HANG seed=%d after %d calls: %s\n"):format(cfg.seed, S.calls, why))
    io.stdout:write(("fuzz: stats tasks=%s timers=%s immediates=%s jobs=%s handles=%s\n"):format(
      tostring(s.tasks), tostring(s.timers), tostring(s.immediates), tostring(s.jobs), tostring(s.handles)))
    io.stdout:write("fuzz: last operations: " .. concat(ops, " ") .. "\n")
    io.stdout:write("fuzz: live tasks:\n" .. fz.describe_tasks(20) .. "\n")
    io.stdout:flush()
    os.exit(3, false)
  end

  local function send_sigint()
    if not fz.PID then return false end
    S.interrupts = S.interrupts + 1
    local p = io.popen("kill -INT " .. fz.PID)
    if p then p:close() end
    return true
  end

  function fz.watchdog()
    local stall = now() - S.heartbeat
    if stall < 0.75 then return end
    if stall > 15 then fz.hang(("no progress for %.1f s"):format(stall)) end
    if escalation == 0 then
      escalation = 1
      if not S.noarg_run and sigint_frame ~= S.frame then
        sigint_frame = S.frame
        send_sigint()
        return
      end
    end
    if escalation == 1 and stall > 2 then
      escalation = 2
      fz.reap("fuzz: stalled")
    elseif escalation == 2 and stall > 5 then
      escalation = 3
      fz.reap("fuzz: stalled")
    end
  end

  -- Unhandled rejections: counted, not printed -------------------------------------

  function fz.on_unhandled(reason, promise)
    if promise == nil then
      S.callback_errors = S.callback_errors + 1
      count(S.rejs, "callback:" .. classify("callback error", reason))
      return
    end
    S.unhandled = S.unhandled + 1
    count(S.rejs, classify("unhandled rejection", reason))
    local k = kind_of(promise)
    if k ~= "promise" and k ~= "task" then
      finding("unhandled promise " .. k, "on_unhandled got something that is not a promise: " .. describe(promise))
    end
  end
  S.handler_dirty = false
  S.handler_calls = 0      -- calls of a handler the fuzzer installed, this step
end
