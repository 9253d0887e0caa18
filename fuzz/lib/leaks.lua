--- fuzz/lib/leaks.lua: the end of a run: everything is stopped, cancelled
-- and closed, the loop is let go idle (bounded), and what is left over is
-- a finding: tasks, timers not explained by long deadlines the fuzzer asked
-- for, immediates, microtasks, libuv handles, file descriptors.

return function(fz)
  local tide, S = fz.tide, fz.S
  local now, finding = fz.now, fz.finding
  local PM, CLIENT = fz.PM, fz.CLIENT

  function fz.fd_count()
    local p = io.popen("ls /proc/" .. tostring(fz.PID) .. "/fd 2>/dev/null | wc -l")
    if not p then return nil end
    local n = tonumber(p:read("a"))
    p:close()
    return n
  end

  -- The state of every promise still tracked.
  local function promise_states()
    local st = { pending = 0, fulfilled = 0, rejected = 0 }
    for p in pairs(fz.all_promises) do
      local ok, s = pcall(PM.state, p)
      if ok then st[s] = st[s] + 1 end
    end
    return st
  end

  --- Cleans up after the run and checks for leftovers; gives what the
  --- report prints. wd_timer is the stall watchdog's interval.
  function fz.wind_down(wd_timer, fds_before)
    local r = { fds_before = fds_before, deadline_hit = S.calls < fz.cfg.calls }
    r.before = promise_states()

    -- Clean-up: stop, cancel, close; let the loop go idle (bounded).
    fz.beat()
    S.winding_down = true
    local t_clean = now()
    for i = 1, 300 do
      fz.beat()
      if i == 1 or i % 20 == 0 then fz.reap("fuzz: end") end
      for c in pairs(fz.all_clients) do pcall(CLIENT.close, c) end
      pcall(tide.http.close)
      tide.pawait(tide.sleep(i < 10 and 0 or 0.01))
      local s = fz.stats()
      if s.tasks == 0 and s.immediates == 0 and s.jobs == 0 and i > 5 then
        local left = 1 -- the watchdog's own interval
        for sig in pairs(fz.long_signals) do if not sig.aborted then left = left + 1 end end
        for p in pairs(fz.long_timeouts) do if p:state() == "pending" then left = left + 1 end end
        if S.long_timeout_calls > 0 then left = left + S.long_timeout_calls end
        if s.timers <= left then break end
      end
      if now() - t_clean > 10 then break end
    end
    wd_timer:cancel()
    -- A file whose open finished after the last reap is still open: the
    -- reaps above run every 20 turns, and the loop stops when all is idle.
    for f in pairs(fz.fs_files) do
      local ok, p = pcall(f.close, f)
      if ok then tide.pawait(tide.timeout(2, p)) end
    end
    for c in pairs(fz.all_clients) do pcall(CLIENT.close, c) end
    pcall(tide.http.close)
    pcall(tide.pawait, tide.sleep(0))
    r.after = promise_states()
    collectgarbage()
    collectgarbage()

    -- What is left over: explained by long deadlines the fuzzer asked for, or
    -- a finding.
    local s = fz.stats()
    r.stats = s
    local expected_timers = 0
    for sig in pairs(fz.long_signals) do if not sig.aborted then expected_timers = expected_timers + 1 end end
    -- (an upper bound: the promise tide.timeout returns may be a follower)
    local refd_timers = S.long_timeout_calls
    expected_timers = expected_timers + S.long_timeout_calls
    r.expected_timers = expected_timers
    if (s.tasks or 0) > 0 then
      finding("leftover tasks", ("%d task(s) still live after cancelling every task repeatedly (a task that "
        .. "cannot be cancelled, or one waiting for one):\n%s"):format(s.tasks, fz.describe_tasks(10)))
    end
    if (s.timers or 0) > expected_timers then
      finding("leftover timers", ("%d timer(s) pending at the end, %d explained by long deadlines"):format(
        s.timers, expected_timers))
    end
    if (s.immediates or 0) > 0 then
      finding("leftover immediates", ("%d immediate(s) queued at the end"):format(s.immediates))
    end
    if (s.jobs or 0) > 0 then finding("leftover jobs", ("%d microtask(s) queued at the end"):format(s.jobs)) end
    if (s.handles or 0) > (refd_timers > 0 and 1 or 0) then
      finding("leftover handles", ("%d active libuv handle(s) at the end (%d refd long timers)"):format(
        s.handles, refd_timers))
    end
    local fds_after = fz.fd_count()
    r.fds_after = fds_after
    if fds_before and fds_after and fds_after > fds_before then
      local p = io.popen("ls -l /proc/" .. tostring(fz.PID) .. "/fd 2>/dev/null")
      local listing = p and p:read("a") or ""
      if p then p:close() end
      finding("fd leak", ("%d file descriptor(s) open at the end, %d at the start:\n%s"):format(
        fds_after, fds_before, listing))
    end
    -- The default handler back; the temporary directory away.
    tide.on_unhandled(nil)
    fz.remove_tmp()
    return r
  end
end
