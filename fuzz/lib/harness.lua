--- fuzz/lib/harness.lua: how the fuzzer calls tide and judges what comes
-- back.
--
-- Every call is counted, sometimes made with mangled arguments, and always
-- run under pcall; its error is classified: a string, a tide.error, or a
-- value the fuzzer handed in pass; anything else is a finding; a raw Lua
-- error raised inside tide's Lua layer ("attempt to index a nil value") is
-- a note. Awaits and calls that may wait are bounded: by a watchdog timer
-- in a task, by racing a short sleep at the top level.

local pack, unpack = table.pack, table.unpack

return function(fz)
  local tide, core, cfg, S = fz.tide, fz.core, fz.cfg, fz.S
  local rand, chance, choose = fz.rand, fz.chance, fz.choose
  local P, know, put, kind_of, count, note, finding, describe =
    fz.P, fz.know, fz.put, fz.kind_of, fz.count, fz.note, fz.finding, fz.describe
  local PM, TM = fz.PM, fz.TM

  fz.BUDGET = setmetatable({}, { __name = "fuzz.budget" })
  local BUDGET = fz.BUDGET
  S.op_name = "?"

  -- Classifying errors ----------------------------------------------------------

  local LUA_BUILTINS = { insert = true, format = true, ipairs = true, pairs = true, concat = true, find = true,
                         lower = true, upper = true, sub = true, match = true, gsub = true, rep = true, next = true,
                         setmetatable = true, unpack = true, remove = true, sort = true, byte = true }

  -- The fuzzer's own files: the driver, lib/ and ops/ (the chunk names are
  -- paths from where it was started: fuzz/ops/x.lua or ./ops/x.lua).
  local function fuzz_side(where)
    where = "/" .. where
    return where:find("/api_fuzz%.lua$") or where:find("/lib/[%w_]+%.lua$") or where:find("/ops/[%w_]+%.lua$")
  end

  local function classify_string(s)
    if s:find("stack overflow", 1, true) then return "str:stack" end
    local where, msg = s:match("^([^\n]-%.lua):%d+: (.*)")
    if not where then return "str" end
    local builtin = msg:match("^bad argument #%d+ to '([%w_]+)'")
    local raw = (msg:find("^attempt to") and not msg:find("^attempt to use a closed"))
      or (builtin and LUA_BUILTINS[builtin])
    if where:find("tide/[%w_]+%.lua$") then
      if raw then
        -- A raw Lua error raised inside tide's Lua layer: misuse that no check
        -- caught, reported with a message that does not say what to do.
        local key = where:match("tide/[%w_]+%.lua") .. ": " .. msg:gsub("%b''", "'?'"):gsub("0x%x+", "0x?")
        note("internal " .. key, ("raw Lua error from tide's Lua layer (%s): %s"):format(S.op_name, s))
        return "str:tide-internal"
      end
      return "str"
    end
    if fuzz_side(where) then
      -- The fuzzer's own helpers are called with wrong values too.
      if cfg.verbose and raw and not msg:find("fuzz") then
        note("fuzzer " .. msg, ("error in the fuzzer's helper (%s): %s"):format(S.op_name, s))
      end
      return "str:fuzz-side"
    end
    return "str"
  end

  --- Classifies an error or rejection reason; an unexpected one is a finding.
  local function classify(where, e)
    local t = type(e)
    if t == "string" then return classify_string(e) end
    if tide.is_error(e) then
      local kind = rawget(e, "kind")
      if type(kind) ~= "string" then
        finding("error kind " .. type(kind), ("%s: a tide.error whose kind is not a string: %s"):format(
          where, describe(e)))
      end
      if type(rawget(e, "message")) ~= "string" then
        finding("error message " .. tostring(kind), ("%s: a tide.error without a string message: %s"):format(
          where, describe(e)))
      end
      return "tide:" .. tostring(kind)
    end
    if fz.is_known(e) then return "fuzz-value" end
    finding("unexpected " .. where .. " " .. type(e), ("%s: an error of an unexpected type: %s"):format(
      where, describe(e)))
    return "UNEXPECTED"
  end
  fz.classify = classify

  local function note_error(name, e) count(S.errs, classify(name, e)) end
  local function note_rejection(name, e) count(S.rejs, classify(name, e)) end
  fz.note_error, fz.note_rejection = note_error, note_rejection

  -- Calls -------------------------------------------------------------------------

  local function mutate(args)
    local r = rand(7)
    if r == 1 and args.n > 0 then
      args[rand(args.n)] = P()
    elseif r == 2 then
      args.n = args.n + 1
      args[args.n] = P()
    elseif r == 3 and args.n > 0 then
      args[args.n] = nil
      args.n = args.n - 1
    elseif r == 4 and args.n > 1 then
      local i, j = rand(args.n), rand(args.n)
      args[i], args[j] = args[j], args[i]
    elseif r == 5 then
      for i = 1, args.n do args[i] = nil end
      args.n = 0
    elseif r == 6 and args.n > 0 then
      args[rand(args.n)] = nil
    else
      args[rand(args.n + 1)] = P()
      args.n = math.max(args.n, 1)
    end
  end

  local MUTATE = 0.12

  -- A promise's outcome joins the pool (or is classified) once it settles.
  local function on_settle(v) put(v) end
  local function on_reject(e) note_rejection("awaited later", e) end
  local function follow(p)
    local k = kind_of(p)
    if (k == "promise" or k == "task") and PM.state(p) == "pending" then PM.next(p, on_settle, on_reject) end
  end
  fz.follow = follow

  S.last_args = { n = 0 } -- the arguments of the last call, as made (after mangling)

  local function do_call(name, mut, keep, f, ...)
    if S.calls >= cfg.calls or S.winding_down or S.quiesce then return false, BUDGET end
    S.calls = S.calls + 1
    count(S.per_op, name)
    local args = pack(...)
    if mut and chance(MUTATE) then mutate(args) end
    S.last_args = args
    for i = 1, args.n do know(args[i]) end
    local r = pack(pcall(f, unpack(args, 1, args.n)))
    if r[1] then
      if keep then
        for i = 2, math.min(r.n, 6) do
          put(r[i])
          if chance(0.15) then follow(r[i]) end
        end
      end
      return true, r[2], r[3], r[4], r[5]
    end
    note_error(name, r[2])
    return false, r[2]
  end
  fz.do_call = do_call

  --- A call whose arguments may be mangled; its results join the pool.
  local function call(name, f, ...) return do_call(name, true, true, f, ...) end
  fz.call = call
  --- A call made exactly as given; its results do not join the pool.
  function fz.call_np(name, f, ...) return do_call(name, false, false, f, ...) end

  -- Contexts: in a task, in a callback (the loop runs), at the top level -------

  local WAITERS = { [core.await] = true, [core.pawait] = true, [core.run] = true, [PM.await] = true }
  --- Whether the loop is running below us (we are in a callback or handler).
  local function loop_running()
    for level = 2, 250 do
      local info = debug.getinfo(level, "f")
      if not info then return false end
      if WAITERS[info.func] then return true end
    end
    return false
  end
  fz.loop_running = loop_running

  S.main_task = nil

  --- A timer that cancels task `cur` after d seconds; cancel it (or let its
  --- <close> do) once the wait it guards is over.
  local function task_watchdog(cur, d)
    local ok, t = pcall(tide.set_timeout, function() pcall(TM.cancel, cur, "fuzz: watchdog") end, d)
    if ok then return t end
    return nil
  end
  fz.task_watchdog = task_watchdog

  fz.settles = setmetatable({}, { __mode = "k" }) -- thenables that settle when asked
  local settles = fz.settles

  --- Whether awaiting v at the top level cannot block for long.
  local function settles_soon(v)
    local k = kind_of(v)
    if k == "promise" or k == "task" then return v:state() ~= "pending" end
    if type(v) == "table" or type(v) == "userdata" then return settles[v] == true or getmetatable(v) == nil end
    return true
  end
  fz.settles_soon = settles_soon

  local function short_wait() return choose { 0, 0.001, 0.002, 0.005, 0.01, 0.02 } end
  fz.short_wait = short_wait

  -- The fuzzer's own await: raw where that is bounded, else bounded by a
  -- watchdog (in a task) or by racing a short sleep (at the top level).
  function fz.await(x)
    local cur = tide.current()
    if cur ~= nil then
      local wd
      if (cur == S.main_task and not settles_soon(x)) or chance(0.85) then
        wd = task_watchdog(cur, choose { 0.002, 0.01, 0.03, 0.1 })
      end
      local _ <close> = wd
      local how = rand(3)
      if how == 1 then return tide.await(x) end
      if how == 2 and (kind_of(x) == "promise" or kind_of(x) == "task") then return x:await() end
      local ok, v = tide.pawait(x)
      if not ok then note_rejection("pawait", v) end
      return v
    end
    if not loop_running() and not settles_soon(x) and not chance(0.02) then
      -- Top level: something that settles soon.
      local r = rand(4)
      if r == 1 then
        x = tide.race { x, tide.sleep(short_wait()) }
      elseif r == 2 then
        x = tide.timeout(short_wait(), x)
      elseif r == 3 then
        x = tide.any { x, tide.sleep(short_wait()) }
      else
        x = tide.race { x, tide.sleep(1, { signal = tide.timeout_signal(short_wait()) }) }
      end
    end
    if chance(0.5) then return tide.await(x) end
    local ok, v = tide.pawait(x)
    if not ok then note_rejection("pawait", v) end
    return v
  end

  -- Runs a call that may wait inside tide (a stream's pull, a for loop over a
  -- channel): in a task under a watchdog; at the top level mostly as a task
  -- of its own (that may stay pending), sometimes as it is.
  function fz.blocking(name, f, ...)
    local cur = tide.current()
    if cur ~= nil then
      local wd = task_watchdog(cur, choose { 0.005, 0.02, 0.1 })
      local _ <close> = wd
      return call(name, f, ...)
    end
    if loop_running() or chance(0.03) then return call(name, f, ...) end
    return call(name .. "@spawn", tide.spawn, f, ...)
  end
end
