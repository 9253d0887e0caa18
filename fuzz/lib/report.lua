--- fuzz/lib/report.lua: bookkeeping, findings and notes, and the report
-- printed at the end.
--
-- A finding is a failure (the run exits 1); a note is a soft observation
-- (a raw Lua error from inside tide's Lua layer, an error in the fuzzer's
-- own helpers), listed with --verbose.

local concat = table.concat

return function(fz)
  local cfg, S = fz.cfg, fz.S

  S.per_op = {}            -- op name -> times run
  S.op_time = {}           -- op name -> seconds spent in driver steps
  S.errs = {}              -- error category -> count
  S.rejs = {}              -- rejection reason category -> count
  S.notes = {}             -- soft findings (deduplicated): key -> {count, text}
  S.findings = {}          -- hard findings: key -> {count, text}
  S.nfindings = 0
  S.created = {}           -- kind -> values of that kind that joined the pool

  function fz.count(t, k) t[k] = (t[k] or 0) + 1 end

  function fz.finding(key, text)
    local f = S.findings[key]
    if f then
      f.count = f.count + 1
    else
      S.findings[key] = { count = 1, text = text, step = S.steps, calls = S.calls }
      S.nfindings = S.nfindings + 1
      io.stderr:write(("fuzz: FINDING at call %d: %s\n"):format(S.calls, text:match("^[^\n]*")))
    end
  end

  function fz.note(key, text)
    local n = S.notes[key]
    if n then n.count = n.count + 1 else S.notes[key] = { count = 1, text = text } end
  end

  function fz.safe_tostring(v)
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then return #s > 200 and s:sub(1, 200) .. "..." or s end
    return "<" .. type(v) .. ">"
  end

  function fz.describe(v)
    local mt = getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name")
    return ("%s%s %s"):format(type(v), name and (" (" .. tostring(name) .. ")") or "", fz.safe_tostring(v))
  end

  local function list_counts(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = ("%s=%d"):format(k, t[k]) end
    return concat(parts, " ")
  end

  --- Prints the report and exits: 0 pass, 1 findings. `r` holds what the
  --- end of the run measured (see lib/leaks.lua).
  function fz.report(r)
    local s = r.stats
    local nerr, nrej = 0, 0
    for _, v in pairs(S.errs) do nerr = nerr + v end
    for _, v in pairs(S.rejs) do nrej = nrej + v end
    print(("fuzz: summary seed=%d calls=%d steps=%d nested=%d time=%.1fs lua-errors=%d [%s] rejections=%d "
      .. "(unhandled=%d, callback-errors=%d) promises=%d settled=%d pending=%d (after clean-up: pending=%d) "
      .. "interrupts=%d reaps=%d"):format(
      cfg.seed, S.calls, S.steps, S.nested_steps, fz.now() - S.t_start, nerr, list_counts(S.errs), nrej, S.unhandled,
      S.callback_errors, S.promises_seen, r.before.fulfilled + r.before.rejected, r.before.pending, r.after.pending,
      S.interrupts, S.reaps))
    if not cfg.quiet then
      print("fuzz: rejection reasons: " .. list_counts(S.rejs))
      print(("fuzz: end stats tasks=%s timers=%s (expected %d) immediates=%s jobs=%s handles=%s fds=%s->%s "
        .. "long-durations=%d"):format(tostring(s.tasks), tostring(s.timers), r.expected_timers,
        tostring(s.immediates), tostring(s.jobs), tostring(s.handles), tostring(r.fds_before), tostring(r.fds_after),
        S.long_durations))
    end
    if cfg.verbose then
      local names = {}
      for k in pairs(S.op_time) do names[#names + 1] = k end
      table.sort(names, function(a, b) return S.op_time[a] > S.op_time[b] end)
      local parts = {}
      for i = 1, math.min(15, #names) do
        parts[#parts + 1] = ("%s=%.2fs/%d"):format(names[i], S.op_time[names[i]], S.per_op[names[i]] or 0)
      end
      print("fuzz: time by operation: " .. concat(parts, " "))
      print("fuzz: objects made: " .. list_counts(S.created))
      print("fuzz: calls by name: " .. list_counts(S.per_op))
    end
    if #fz.held_back > 0 then
      print(("fuzz: %d operation(s) known to crash or fail were left out (--hostile runs them):"):format(
        #fz.held_back))
      for _, what in ipairs(fz.held_back) do print("  " .. what) end
    end
    if r.deadline_hit then
      print(("fuzz: note: the time limit (%.0f s) stopped the run after %d of %d calls"):format(
        cfg.limit, S.calls, cfg.calls))
    end
    local keys = {}
    for k in pairs(S.notes) do keys[#keys + 1] = k end
    table.sort(keys)
    if #keys > 0 and cfg.verbose then
      print(("fuzz: %d note(s) (not failures):"):format(#keys))
      for _, k in ipairs(keys) do print(("  [%dx] %s"):format(S.notes[k].count, S.notes[k].text)) end
    elseif #keys > 0 then
      print(("fuzz: %d note(s), not failures (raw Lua errors from inside tide's Lua layer, for misuse that "
        .. "no argument check caught); --verbose lists them"):format(#keys))
    end
    keys = {}
    for k in pairs(S.findings) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local f = S.findings[k]
      print(("fuzz: FINDING [%dx, first at call %d] %s"):format(f.count, f.calls, f.text))
    end
    if S.nfindings > 0 then
      print(("fuzz: FAIL seed=%d: %d finding(s)"):format(cfg.seed, S.nfindings))
      io.stdout:flush()
      os.exit(1, true)
    end
    print(("fuzz: PASS seed=%d"):format(cfg.seed))
    io.stdout:flush()
    os.exit(0, true)
  end
end
