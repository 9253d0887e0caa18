--- fuzz/lib/run.lua: the table of operations and the driver that picks
-- them.
--
-- fz.op(name, weight, fn [, flags]) adds an operation; ops/<area>.lua files
-- call it. flags.known_crash = "why" marks an operation that crashes tide
-- today, flags.known_bug = "why" one whose checks fail today: either is
-- left out unless --hostile is given (and listed in the report), so that
-- it can be switched on by deleting the flag once the bug is fixed. --skip
-- leaves out operations by name prefix.
--
-- The driver runs stretches of steps, each one random operation, either at
-- the top level or inside a main task (run, awaited or pawaited).

return function(fz)
  local tide, cfg, S = fz.tide, fz.cfg, fz.S
  local rand, chance, now = fz.rand, fz.chance, fz.now

  local OPS, total_weight = {}, 0
  local skipped = {}
  for prefix in (cfg.skip or ""):gmatch("[^,]+") do skipped[#skipped + 1] = prefix end
  fz.OPS = OPS
  fz.held_back = {} -- names of known-crash operations left out

  function fz.op(name, weight, fn, flags)
    for _, prefix in ipairs(skipped) do
      if name:sub(1, #prefix) == prefix then return end
    end
    local known = flags and (flags.known_crash or flags.known_bug)
    if known and not cfg.hostile then
      fz.held_back[#fz.held_back + 1] = ("%s: %s"):format(name, known)
      return
    end
    OPS[#OPS + 1] = { name = name, w = weight, fn = fn, known = known }
    total_weight = total_weight + weight
  end

  local function pick_op()
    local r = rand(total_weight)
    for i = 1, #OPS do
      r = r - OPS[i].w
      if r <= 0 then return OPS[i] end
    end
    return OPS[#OPS]
  end

  local function run(o)
    local saved = S.op_name
    S.op_name = o.name
    local ok, err = pcall(o.fn)
    S.op_name = saved
    if not ok then
      fz.note("op " .. o.name, ("the fuzzer's operation %s raised: %s"):format(o.name, fz.safe_tostring(err)))
    end
  end

  function fz.run_op() run(pick_op()) end

  local function driver_step()
    fz.beat()
    S.steps = S.steps + 1
    S.depth = 0
    if S.handler_dirty then
      S.handler_dirty = false
      pcall(tide.on_unhandled, fz.on_unhandled)
    end
    S.handler_calls = 0
    local o = pick_op()
    S.trail_i = S.trail_i % 32 + 1
    S.trail[S.trail_i] = o.name
    if fz.trace_file then fz.trace_file:write(S.steps, " ", S.calls, " ", o.name, "\n") end
    local t0 = now()
    run(o)
    S.op_time[o.name] = (S.op_time[o.name] or 0) + (now() - t0)
    if chance(0.002) then collectgarbage() end
  end

  local function out_of_budget() return S.calls >= cfg.calls or now() >= S.deadline end
  fz.out_of_budget = out_of_budget

  local function stretch_top(n)
    for _ = 1, n do
      if out_of_budget() then return end
      S.frame = S.frame + 1
      driver_step()
    end
  end

  local function stretch_main(n)
    S.frame = S.frame + 1
    local body = function()
      S.main_task = tide.current()
      for _ = 1, n do
        if out_of_budget() then break end
        driver_step()
      end
      return "main done"
    end
    local r = rand(3)
    if r == 1 then
      local ok, err = pcall(tide.run, body)
      if not ok then fz.note_error("main task", err) end
    else
      local t = tide.spawn(body)
      if r == 2 then
        local ok, err = pcall(tide.await, t)
        if not ok then fz.note_error("main task", err) end
      else
        local ok, fine, err = pcall(tide.pawait, t)
        if not ok then fz.note_error("main task", fine) elseif not fine then fz.note_rejection("main task", err) end
      end
    end
    S.main_task = nil
  end

  --- Runs stretches of steps until the budget of calls or time is spent,
  --- printing progress every tenth of the calls.
  function fz.drive()
    local next_progress = cfg.calls // 10
    local function progress()
      if S.calls < next_progress or cfg.quiet then return end
      while next_progress <= S.calls do next_progress = next_progress + math.max(1, cfg.calls // 10) end
      local s = fz.stats()
      print(("fuzz: %3d%% calls=%d steps=%d t=%.1fs tasks=%s timers=%s unhandled=%d mem=%.0fKiB"):format(
        math.min(100, S.calls * 100 // math.max(1, cfg.calls)), S.calls, S.steps, now() - S.t_start,
        tostring(s.tasks), tostring(s.timers), S.unhandled, collectgarbage("count")))
      io.stdout:flush()
    end

    while not out_of_budget() do
      local n = 20 + rand(150)
      if chance(0.5) then stretch_top(n) else stretch_main(n) end
      progress()
    end
  end
end
