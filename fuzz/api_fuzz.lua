--- fuzz/api_fuzz.lua: a seeded random driver of tide's public API.
--
--   lua5.4 fuzz/api_fuzz.lua --seed N --calls M [--url BASE] [--time-limit S]
--                            [--trace FILE] [--skip OP,OP...] [--tmp DIR] [--quiet] [--verbose]
--
-- It makes M calls across the public API (promises, tasks, timers,
-- combinators, cancellation, scopes, patterns, channels, streams, files in a
-- temporary directory, HTTP against the local service at BASE) with
-- arguments that are mostly plausible and often wrong: wrong types, wrong
-- counts, wrong order, methods called on the wrong object. Every call runs
-- under pcall; every error must be a string, a tide.error, or a value the
-- fuzzer itself handed in. The results go back into the pool of values that
-- later calls draw from. The loop is driven from the top level, from inside
-- a main task, and from callbacks (where awaiting must fail cleanly); tasks
-- are cancelled, signals aborted and streams closed at random points.
--
-- Pass: the interpreter never crashes, no error value is of an unexpected
-- kind, nothing hangs, and after everything is cancelled and closed,
-- tide.core's stats show no task, timer, immediate or handle left behind.
-- The seed is printed first; the same seed replays the same sequence of
-- choices (timing can still differ: callbacks that fire at other moments
-- draw other numbers). --trace FILE writes every step's operation as it
-- starts, for finding the last one before a crash; --skip leaves out the
-- operations whose names start with one of the given prefixes (to look
-- past a known bug, or to narrow one down); --verbose adds where the time
-- went, what was made, and notes on the fuzzer's own helpers. Files are
-- made only inside a fresh directory tide-fuzz-XXXXXX under --tmp (/tmp).
--
-- Exit status: 0 pass, 1 findings, 2 bad usage, 3 hang.
local tide = require "tide"
local core = require "tide.core"

local pack, unpack, concat = table.pack, table.unpack, table.concat
local type, tostring, pcall, select, getmetatable, setmetatable =
  type, tostring, pcall, select, getmetatable, setmetatable
local now = tide.now

-- ---------------------------------------------------------------------------
-- Command line

local function usage(msg)
  io.stderr:write(("api_fuzz: %s\nusage: lua5.4 fuzz/api_fuzz.lua --seed N --calls M [--url BASE] "
    .. "[--time-limit S] [--trace FILE] [--skip OP,OP...] [--tmp DIR] [--quiet] [--verbose]\n"):format(msg))
  os.exit(2)
end

local cfg = { calls = 20000, quiet = false }
do
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--seed" then
      cfg.seed = math.tointeger(tonumber(v)) or usage("--seed needs an integer")
      i = i + 2
    elseif a == "--calls" then
      cfg.calls = math.tointeger(tonumber(v)) or usage("--calls needs an integer")
      i = i + 2
    elseif a == "--url" then
      cfg.url = v or usage("--url needs a base URL")
      i = i + 2
    elseif a == "--time-limit" then
      cfg.limit = tonumber(v) or usage("--time-limit needs seconds")
      i = i + 2
    elseif a == "--trace" then
      cfg.trace = v or usage("--trace needs a file name")
      i = i + 2
    elseif a == "--quiet" then
      cfg.quiet = true
      i = i + 1
    elseif a == "--verbose" then
      cfg.verbose = true
      i = i + 1
    elseif a == "--skip" then
      cfg.skip = v or usage("--skip needs operation names")
      i = i + 2
    elseif a == "--tmp" then
      cfg.tmp = v or usage("--tmp needs a directory")
      i = i + 2
    else
      usage("unknown argument " .. tostring(a))
    end
  end
  cfg.seed = cfg.seed or os.time()
  if cfg.url then
    cfg.url = cfg.url:gsub("/+$", "")
    if not cfg.url:match("^http://127%.0%.0%.1:%d+$") then usage("--url must be http://127.0.0.1:PORT") end
  end
  -- A hard deadline: past it no more calls are made (the run then cleans up).
  cfg.limit = cfg.limit or (30 + cfg.calls * 0.004)
end

print(("fuzz: seed %d"):format(cfg.seed))
io.stdout:flush()

local trace_file = cfg.trace and assert(io.open(cfg.trace, "w"))
if trace_file then trace_file:setvbuf("line") end

-- ---------------------------------------------------------------------------
-- Randomness: splitmix64, private to the fuzzer (tide.retry draws from
-- math.random for its jitter; that must not shift the fuzzer's choices).

local rng = cfg.seed
local function rand_u64()
  rng = rng + 0x9E3779B97F4A7C15
  local z = rng
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end
--- An integer in 1..n.
local function rand(n) return (rand_u64() >> 1) % n + 1 end
local function chance(p) return (rand_u64() >> 11) * (1.0 / 9007199254740992.0) < p end
local function choose(list) return list[rand(#list)] end
math.randomseed(cfg.seed)

-- ---------------------------------------------------------------------------
-- Bookkeeping

local t_start = now()
local deadline = t_start + cfg.limit
local calls, steps, nested_steps = 0, 0, 0
local winding_down = false   -- the end: fuzz functions do nothing more
local quiesce = false        -- during tide.run(): no new work, so that it returns
local per_op = {}            -- op name -> times run
local op_time = {}           -- op name -> seconds spent in driver steps
local errs = {}              -- error category -> count
local rejs = {}              -- rejection reason category -> count
local notes = {}             -- soft findings (deduplicated): key -> {count, text}
local findings = {}          -- hard findings: key -> {count, text}
local nfindings = 0
local unhandled, callback_errors = 0, 0
local interrupts, reaps = 0, 0
local long_durations = 0
local long_timeout_calls = 0 -- tide.timeout() calls with a deadline past the end of the run
local created = {}           -- kind -> values of that kind that joined the pool
local trail, trail_i = {}, 0 -- the last operations, for hang reports

local function count(t, k) t[k] = (t[k] or 0) + 1 end

local function finding(key, text)
  local f = findings[key]
  if f then
    f.count = f.count + 1
  else
    findings[key] = { count = 1, text = text, step = steps, calls = calls }
    nfindings = nfindings + 1
    io.stderr:write(("fuzz: FINDING at call %d: %s\n"):format(calls, text:match("^[^\n]*")))
  end
end

local function note(key, text)
  local n = notes[key]
  if n then n.count = n.count + 1 else notes[key] = { count = 1, text = text } end
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return #s > 200 and s:sub(1, 200) .. "..." or s end
  return "<" .. type(v) .. ">"
end

local function describe(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return ("%s%s %s"):format(type(v), name and (" (" .. tostring(name) .. ")") or "", safe_tostring(v))
end

-- ---------------------------------------------------------------------------
-- Classes, found from live objects

local function registry_mt(name) return debug.getregistry()[name] end

local MT = {
  promise = core.promise_mt, task = core.task_mt, signal = core.signal_mt, err = core.error_mt,
  timer = registry_mt("tide.timer"), cclient = registry_mt("tide.http.client"),
  transfer = registry_mt("tide.http.transfer"),
  ctl = getmetatable(tide.abort_controller()), channel = getmetatable(tide.channel()),
  stream = tide.stream.Stream, sem = getmetatable(tide.semaphore(1)), breaker = getmetatable(tide.breaker()),
  scope = getmetatable(tide.scope()), response = tide.http.Response,
}
do
  local c = tide.http.client()
  MT.client = getmetatable(c)
  c:close()
end
local KIND_OF_MT = {}
for k, mt in pairs(MT) do KIND_OF_MT[mt] = k end

local PM = core.promise_methods                     -- next, catch, state, peek, await, finally
local TM = MT.task.__index                          -- the same plus cancel, traceback
local TIMER = MT.timer.__index
local CH, ST, SEM, BRK, SCOPE, CTL, SIG, CLIENT, RESP =
  MT.channel, MT.stream, MT.sem, MT.breaker, MT.scope, MT.ctl, MT.signal, MT.client, MT.response

-- ---------------------------------------------------------------------------
-- Values the fuzzer knows: everything it put in the pool or passed to a call.
-- An error or rejection reason must be a string, a tide.error, or one of these.

local known_obj = setmetatable({}, { __mode = "k" })
local known_scalar = {}
local function know(v)
  local t = type(v)
  if t == "table" or t == "function" or t == "userdata" or t == "thread" then
    known_obj[v] = true
  elseif v ~= nil and v == v then
    known_scalar[v] = true
  end
end
local function is_known(v)
  local t = type(v)
  if v == nil or t == "string" or (t == "number" and v ~= v) then return true end
  if t == "table" or t == "function" or t == "userdata" or t == "thread" then return known_obj[v] == true end
  return known_scalar[v] == true
end

-- ---------------------------------------------------------------------------
-- The pool: typed buckets of values

local NIL = setmetatable({}, { __name = "fuzz.nil" }) -- nil, inside a bucket
local BUCKET_MAX = 48
local buckets, bucket_list = {}, {}

-- Registries for the clean-up at the end (weak where tide anchors what is live).
local all_promises = setmetatable({}, { __mode = "k" })
local all_timers = setmetatable({}, { __mode = "k" })
local all_channels = setmetatable({}, { __mode = "k" })
local all_ctls = setmetatable({}, { __mode = "k" })
local all_responses = setmetatable({}, { __mode = "k" })
local all_streams = setmetatable({}, { __mode = "k" })
local fs_streams = {}                   -- strong: a dropped fs.lines stream would keep its fd
local all_clients, client_list = {}, {} -- strong: closed at the end
local settlers = setmetatable({}, { __mode = "k" }) -- deferred promise -> {resolve, reject}
local long_timeouts = setmetatable({}, { __mode = "k" }) -- timeout() results with long deadlines
local long_signals = setmetatable({}, { __mode = "k" })  -- timeout_signal()s with long deadlines
local promises_seen = 0

local function kind_of(v)
  local t = type(v)
  if t == "nil" then return "nil" end
  if t == "number" then return "num" end
  if t == "string" then return "str" end
  if t == "boolean" then return "bool" end
  if t == "function" then return "fn" end
  if t == "thread" then return "co" end
  local k = KIND_OF_MT[getmetatable(v)]
  if k then return k end
  return t == "table" and "tbl" or "ud"
end

local function put_in(kind, v)
  know(v)
  local b = buckets[kind]
  if not b then
    b = { n = 0, kind = kind }
    buckets[kind] = b
    bucket_list[#bucket_list + 1] = b
  end
  if v == nil then v = NIL end
  if b.n < BUCKET_MAX then
    b.n = b.n + 1
    b[b.n] = v
  else
    b[rand(BUCKET_MAX)] = v
  end
end

local function put(v)
  local k = kind_of(v)
  if (type(v) == "table" or type(v) == "userdata") and not known_obj[v] then count(created, k) end
  know(v)
  put_in(k, v)
  if k == "promise" or k == "task" then
    if not all_promises[v] then
      all_promises[v] = true
      promises_seen = promises_seen + 1
    end
  elseif k == "timer" then all_timers[v] = true
  elseif k == "channel" then all_channels[v] = true
  elseif k == "ctl" then all_ctls[v] = true; put_in("signal", rawget(v, "signal"))
  elseif k == "stream" then all_streams[v] = true
  elseif k == "response" then all_responses[v] = true
  elseif k == "client" and not all_clients[v] then
    all_clients[v] = true
    client_list[#client_list + 1] = v
  end
end

local function unwrap(v)
  if v == NIL then return nil end
  return v
end

--- Any value of the pool.
local function P()
  for _ = 1, 4 do
    local b = bucket_list[rand(#bucket_list)]
    if b.n > 0 then return unwrap(b[rand(b.n)]) end
  end
  return nil
end

--- A value of the given kind (any value when there is none yet).
local function G(kind)
  local b = buckets[kind]
  if b and b.n > 0 then return unwrap(b[rand(b.n)]) end
  return P()
end

--- Mostly a value of the given kind, sometimes any value.
local function A(kind, p)
  if chance(p or 0.85) then return G(kind) end
  return P()
end

local function A_prom(p)
  if chance(p or 0.85) then return G(chance(0.6) and "promise" or "task") end
  return P()
end

local function A_stream(p)
  if chance(p or 0.85) then return G(chance(0.75) and "stream" or "channel") end
  return P()
end

--- A value that is neither a thenable-ish table nor a promise (what
--- thenables and executors settle with: a thenable that resolves with
--- thenables forever would never settle; "settles soon" must hold).
local function PV()
  local v = P()
  local k = kind_of(v)
  if k == "promise" or k == "task" or (k == "tbl" and getmetatable(v) ~= nil) then return 42 end
  return v
end

-- ---------------------------------------------------------------------------
-- Calls: counted, sometimes with mangled arguments, always under pcall

local BUDGET = setmetatable({}, { __name = "fuzz.budget" })
local op_name = "?"

local LUA_BUILTINS = { insert = true, format = true, ipairs = true, pairs = true, concat = true, find = true,
                       lower = true, upper = true, sub = true, match = true, gsub = true, rep = true, next = true,
                       setmetatable = true, unpack = true, remove = true, sort = true, byte = true }

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
      note("internal " .. key, ("raw Lua error from tide's Lua layer (%s): %s"):format(op_name, s))
      return "str:tide-internal"
    end
    return "str"
  end
  if where:find("api_fuzz%.lua$") then
    -- The fuzzer's own helpers are called with wrong values too.
    if cfg.verbose and raw and not msg:find("fuzz") then
      note("fuzzer " .. msg, ("error in the fuzzer's helper (%s): %s"):format(op_name, s))
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
  if is_known(e) then return "fuzz-value" end
  finding("unexpected " .. where .. " " .. type(e), ("%s: an error of an unexpected type: %s"):format(
    where, describe(e)))
  return "UNEXPECTED"
end

local function note_error(name, e) count(errs, classify(name, e)) end
local function note_rejection(name, e) count(rejs, classify(name, e)) end

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

local last_args = { n = 0 } -- the arguments of the last call, as made (after mangling)

local function do_call(name, mut, keep, f, ...)
  if calls >= cfg.calls or winding_down or quiesce then return false, BUDGET end
  calls = calls + 1
  count(per_op, name)
  local args = pack(...)
  if mut and chance(MUTATE) then mutate(args) end
  last_args = args
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

--- A call whose arguments may be mangled; its results join the pool.
local function call(name, f, ...) return do_call(name, true, true, f, ...) end
--- A call made exactly as given; its results do not join the pool.
local function call_np(name, f, ...) return do_call(name, false, false, f, ...) end

-- ---------------------------------------------------------------------------
-- Contexts: in a task, in a callback (the loop runs), at the top level

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

local main_task = nil

--- A timer that cancels task `cur` after d seconds; cancel it (or let its
--- <close> do) once the wait it guards is over.
local function task_watchdog(cur, d)
  local ok, t = pcall(tide.set_timeout, function() pcall(TM.cancel, cur, "fuzz: watchdog") end, d)
  if ok then return t end
  return nil
end

local settles = setmetatable({}, { __mode = "k" }) -- thenables that settle when asked

--- Whether awaiting v at the top level cannot block for long.
local function settles_soon(v)
  local k = kind_of(v)
  if k == "promise" or k == "task" then return v:state() ~= "pending" end
  if type(v) == "table" or type(v) == "userdata" then return settles[v] == true or getmetatable(v) == nil end
  return true
end

local function short_wait() return choose { 0, 0.001, 0.002, 0.005, 0.01, 0.02 } end

-- The fuzzer's own await: raw where that is bounded, else bounded by a
-- watchdog (in a task) or by racing a short sleep (at the top level).
local function fz_await(x)
  local cur = tide.current()
  if cur ~= nil then
    local wd
    if (cur == main_task and not settles_soon(x)) or chance(0.85) then
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
local function blocking(name, f, ...)
  local cur = tide.current()
  if cur ~= nil then
    local wd = task_watchdog(cur, choose { 0.005, 0.02, 0.1 })
    local _ <close> = wd
    return call(name, f, ...)
  end
  if loop_running() or chance(0.03) then return call(name, f, ...) end
  return call(name .. "@spawn", tide.spawn, f, ...)
end

-- ---------------------------------------------------------------------------
-- Functions, thenables and other odd values

local depth = 0
local MAX_DEPTH = 3
local run_op -- forward
local make_fn -- forward

local KINDS = { "timeout", "cancelled", "usage", "network", "closed", "deadlock", "type", "aggregate",
                "open_circuit", "http", "fs", "json", "body_too_large", "fuzz" }

--- Runs one random operation, nested (bounded depth).
local function nested_op()
  if depth >= MAX_DEPTH or winding_down or quiesce then return end
  depth = depth + 1
  nested_steps = nested_steps + 1
  run_op()
  depth = math.max(0, depth - 1)
end

local function raise_value()
  local r = rand(4)
  local e
  if r == 1 then
    e = "fuzz: raised " .. tostring(rand(1000))
  elseif r == 2 then
    e = { fuzz = "raised" }
  elseif r == 3 then
    e = tide.error(choose(KINDS), "fuzz: raised", { fuzz = true, cause = chance(0.3) and P() or nil })
  else
    e = P()
  end
  know(e)
  return e
end

local closers = {
  function() pcall(TM.cancel, G("task"), P()) end,
  function() pcall(CTL.abort, G("ctl"), P()) end,
  function() pcall(ST.close, G("stream")) end,
  function() pcall(CH.close, G("channel")) end,
  function() pcall(TIMER.cancel, G("timer")) end,
  function() pcall(RESP.close, G("response")) end,
  function() pcall(SCOPE.cancel, G("scope"), P()) end,
}

--- Calls some of the functions among the arguments (resolvers, yield,
--- a scope's spawn) with pool values.
local function use_args(...)
  local n = math.min(select("#", ...), 4)
  for i = 1, n do
    local a = select(i, ...)
    if type(a) == "function" and chance(0.6) then
      local v = chance(0.7) and PV() or P()
      know(v)
      pcall(a, v)
    elseif kind_of(a) == "scope" and chance(0.6) then
      pcall(SCOPE.spawn, a, make_fn())
    end
  end
end

local NB = 16
make_fn = function(b)
  b = b or rand(NB)
  local captured = P()
  local f = function(...)
    if winding_down or quiesce then return nil end
    for i = 1, math.min(select("#", ...), 4) do know((select(i, ...))) end
    if select("#", ...) > 0 and chance(0.35) then use_args(...) end
    if b == 1 then
      return captured
    elseif b == 2 then
      return P(), P(), P()
    elseif b == 3 then
      error("fuzz: boom " .. tostring(rand(100)), chance(0.5) and 1 or 0)
    elseif b == 4 or b == 5 or b == 6 then
      error(raise_value(), 0)
    elseif b == 7 then
      return fz_await(P())
    elseif b == 8 then
      return coroutine.yield(P())
    elseif b == 9 or b == 10 then
      nested_op()
      return P()
    elseif b == 11 then
      return fz_await(tide.sleep(short_wait()))
    elseif b == 12 then
      collectgarbage(chance(0.5) and "collect" or "step")
      return captured
    elseif b == 13 then
      choose(closers)()
      return captured
    elseif b == 14 then
      local r = rand(4)
      if r == 1 then return tide.current() end
      if r == 2 then return tide.resolve(PV()) end
      if r == 3 then return coroutine.running() end
      return G("promise")
    elseif b == 15 then
      local x = 0
      for i = 1, 200 do x = x + i end
      return x
    else
      -- awaits twice, with errors caught in between
      local ok1, v1 = pcall(fz_await, P())
      local ok2 = pcall(fz_await, tide.sleep(0))
      if not ok1 and chance(0.5) then error(v1, 0) end
      return ok2 and v1 or captured
    end
  end
  know(f)
  return f
end

local function callable_table()
  local fn = make_fn()
  return setmetatable({}, { __call = function(_, ...) return fn(...) end, __name = "fuzz.callable" })
end

--- A function or something else, for a callback position.
local function F()
  local r = rand(12)
  if r <= 7 then
    local f = G("fn")
    if type(f) == "function" or chance(0.3) then return f end
    return make_fn()
  elseif r <= 9 then
    return make_fn()
  elseif r == 10 then
    return callable_table()
  end
  return P()
end

--- F(), or nil (for optional handlers).
local function H()
  if chance(0.25) then return nil end
  return F()
end

--- Wraps a resolve/reject function: the values it is given become known.
local function wrap_settler(f)
  local w = function(...)
    for i = 1, select("#", ...) do know((select(i, ...))) end
    return f(...)
  end
  know(w)
  put_in("settler", w)
  put_in("fn", w)
  return w
end

local function make_thenable(mode, shape)
  mode = mode or rand(9)
  shape = shape or rand(6)
  local then_fn = function(_, resolve, reject)
    if winding_down then return end
    if mode == 1 then
      resolve(PV())
    elseif mode == 2 then
      local e = raise_value()
      reject(e)
    elseif mode == 3 then
      resolve(PV()); reject(raise_value()); resolve(PV())
    elseif mode == 4 then
      error(raise_value(), 0)
    elseif mode == 5 then
      resolve(PV()); error(raise_value(), 0)
    elseif mode == 6 then
      return -- never settles
    elseif mode == 7 then
      wrap_settler(resolve); wrap_settler(reject)
    elseif mode == 8 then
      resolve(make_thenable(rand(3), rand(2)))
    else
      local f = make_fn()
      return f(wrap_settler(resolve), wrap_settler(reject))
    end
  end
  local t
  if shape == 1 then
    t = setmetatable({ next = then_fn }, {})
  elseif shape == 2 then
    t = setmetatable({ ["then"] = then_fn }, { __name = "fuzz.thenable" })
  elseif shape == 3 then
    t = setmetatable({ next = 42, ["then"] = then_fn }, {})
  elseif shape == 4 then
    local method = setmetatable({}, { __call = function(_, x, res, rej) return then_fn(x, res, rej) end })
    t = setmetatable({}, { __index = { next = method } })
  elseif shape == 5 then
    -- looking its method up raises
    t = setmetatable({}, { __index = function(_, k) if k == "next" then error(raise_value(), 0) end end })
    settles[t] = true
    return t
  else
    t = { next = then_fn } -- no metatable: a plain value
  end
  if mode ~= 6 and mode ~= 7 and mode ~= 9 then settles[t] = true end
  return t
end

-- ---------------------------------------------------------------------------
-- Arguments

local BASE = cfg.url
local DURS = { 0, 0, 0, 0.001, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05 }
local BAD_DURS = { -1, 0 / 0, math.huge, -math.huge, 1e308, 1e-300, "0.01", "x", true, 2 ^ 63, math.maxinteger,
                   3600, -0.0, 0.5, 1.5 }

local function dur()
  if chance(0.88) then return choose(DURS) end
  local d = chance(0.5) and choose(BAD_DURS) or P()
  if type(d) == "number" and d > 2 then long_durations = long_durations + 1 end
  return d
end

local function sig_opts()
  local r = rand(12)
  if r <= 5 then return nil end
  if r <= 9 then return { signal = G("signal") } end
  if r == 10 then return {} end
  if r == 11 then return { signal = P() } end
  return P()
end

local function small_list(gen, max)
  local n = rand((max or 5) + 1) - 1
  local t = {}
  for i = 1, n do t[i] = gen() end
  if chance(0.25) then t.n = math.max(0, n + rand(3) - 2) end
  if chance(0.05) then t.n = choose { 0.5, -1, "2", 0 / 0, true } end
  return t
end

local function promise_list()
  if chance(0.08) then return P() end
  return small_list(function()
    if chance(0.75) then return A_prom() end
    if chance(0.3) then return make_thenable() end
    return P()
  end)
end

local function value_list()
  if chance(0.08) then return P() end
  return small_list(P, 6)
end

--- A source function that gives at most k values, then nil (pull-like
--- positions: an endless synchronous source would spin forever).
local function bounded_source(strings)
  local k = rand(5) - 1
  local raises = chance(0.1)
  local awaits = chance(0.3)
  return function()
    if winding_down or k <= 0 then return nil end
    k = k - 1
    if raises and k == 0 then error(raise_value(), 0) end
    if awaits then pcall(fz_await, tide.sleep(0)) end
    if strings then
      if chance(0.1) then return P() end
      return choose { "a", "line\n", "two\r\nlines\n", ("z"):rep(1000), "" }
    end
    local v = PV()
    if v == nil then v = 0 end
    return v
  end
end

local function gen_body()
  if chance(0.3) then return F() end
  local k = rand(4) - 1
  return function(yield)
    if winding_down then return end
    for _ = 1, k do
      if chance(0.1) then error(raise_value(), 0) end
      if chance(0.2) then pcall(fz_await, tide.sleep(0)) end
      local v = PV()
      if v == nil and chance(0.8) then v = "item" end
      yield(v)
    end
    if chance(0.1) then return yield(nil) end
  end
end

local function odd_tables()
  local cyc = {}
  cyc.self = cyc
  cyc[1] = cyc
  local list = { 1, nil, 3, n = 3 }
  local pull = bounded_source()
  return {
    {}, { 1, 2, 3 }, list, { n = -1 }, { n = 2.5 }, { n = "3" }, { n = 0 / 0 }, { nil, nil, n = 2 }, cyc,
    setmetatable({}, { __index = function() error("fuzz: __index raised", 0) end }),
    setmetatable({}, { __len = function() error("fuzz: __len raised", 0) end }),
    setmetatable({}, { __len = function() return 3 end }),
    setmetatable({}, { __tostring = function() error("fuzz: __tostring raised", 0) end }),
    setmetatable({}, { __tostring = function() return 42 end }),
    setmetatable({}, { __tostring = function() return fz_await(P()) end }),
    setmetatable({}, { __metatable = "locked" }),
    setmetatable({}, { __name = 42 }),
    setmetatable({}, { __index = function(_, k) return k == "pull" and pull or nil end }),
    { signal = 1 }, { signal = true }, { concurrency = 0 }, { attempts = 2, base = 0 },
    { recursive = true }, { url = "http://" }, { 1, 2, "x", false },
  }
end

-- ---------------------------------------------------------------------------
-- Files: only inside the fuzzer's own temporary directory

local TMP
do
  local parent = (cfg.tmp or "/tmp"):gsub("/+$", "")
  if not parent:match("^/[%w_./-]*$") or parent:find("..", 1, true) then
    io.stderr:write("api_fuzz: --tmp must be an absolute path of plain characters\n")
    os.exit(2)
  end
  local p = assert(io.popen("mktemp -d " .. parent .. "/tide-fuzz-XXXXXX"))
  TMP = p:read("l")
  p:close()
  if not (TMP and TMP:sub(1, #parent + 1) == parent .. "/" and TMP:match("/tide%-fuzz%-[%w]+$")) then
    io.stderr:write("api_fuzz: cannot create a temporary directory\n")
    os.exit(2)
  end
  local function write(name, data)
    local f = assert(io.open(TMP .. "/" .. name, "wb"))
    f:write(data)
    f:close()
  end
  write("a", "alpha\n")
  write("c.txt", "")
  write("lines.txt", "one\ntwo\r\nthree\n\n" .. ("long"):rep(30000) .. "\nlast")
  write("big", ("0123456789abcdef"):rep(20000))
  os.execute("mkdir -p " .. TMP .. "/d/f")
end

local FS_NAMES = { "a", "b", "c.txt", "lines.txt", "big", "d", "d/e", "d/f", "d/f/g", "missing/x", "a/x", "new",
                   "z", "d/f/h.txt" }

local function fs_path()
  if chance(0.92) then return TMP .. "/" .. choose(FS_NAMES) end
  return choose { 42, {}, true, TMP .. "/bad\0name", "\0", false }
end

-- Every string given to tide.fs as a path must be inside TMP (or hold a
-- zero byte, which tide refuses): checked before every call.
local function path_ok(p)
  if type(p) ~= "string" then return true end
  if p:find("\0", 1, true) then return true end
  return p:sub(1, #TMP + 1) == TMP .. "/" and not p:find("..", 1, true)
end

local function fs_opts()
  local r = rand(8)
  if r <= 3 then return nil end
  if r == 4 then return { recursive = true } end
  if r == 5 then return { recursive = chance(0.5), mode = choose { 448, 493, 0, -1, 0.5, "x", 4095 } } end
  return sig_opts()
end

local function fs_data()
  if chance(0.85) then return choose { "", "x", "hello\n", ("d"):rep(70000), "a\0b\r\n" } end
  return choose { 42, {}, true, nil }
end

-- ---------------------------------------------------------------------------
-- HTTP: only to 127.0.0.1

local HOSTPORT = BASE and BASE:match("^http://(.*)$") or "127.0.0.1:1"

local function url(relative)
  local r = rand(24)
  if BASE then
    if r <= 7 then return BASE .. "/api/fast" end
    if r <= 9 then return BASE .. "/api/users/7" end
    if r == 10 then return BASE .. "/api/items/" .. rand(1000) end
    if r == 11 then return BASE .. "/files/big.bin" end
    if r == 12 then return BASE .. "/nope" end
    if r == 13 then return BASE .. "/api/fast?x=1&y=%zz" end
  end
  if relative and r <= 16 then return choose { "/api/fast", "api/fast", "//api/users/7", "", "/nope" } end
  return choose {
    "http://127.0.0.1:1/", "ftp://x", "", "http://", "https://" .. HOSTPORT .. "/api/fast",
    "http://[::1", "http://" .. HOSTPORT .. "/a b", "HTTP://" .. HOSTPORT .. "/api/fast",
    "http://" .. HOSTPORT .. "/" .. ("x"):rep(9000), "http://user:pw@" .. HOSTPORT .. "/api/fast",
    "http://127.0.0.1:99999/", "http://127.0.0.1:" .. HOSTPORT:match(":(%d+)$") .. "\0/api/fast",
    42, {}, "file:///etc/passwd", "http://127.0.0.1/" }
end

local function headers()
  return choose {
    { ["X-Fuzz"] = "1" }, { ["Bad Name"] = "x" }, { ["X-Inj"] = "a\r\nInjected: yes" }, { ["X"] = {} },
    { [1] = "x" }, { ["X-Num"] = 42 }, { ["Content-Type"] = "text/plain", Accept = "*/*" }, { [""] = "x" },
    { ["X-Nul"] = "a\0b" }, {},
  }
end

-- An upload body. Never a pool function: an endless source (one that never
-- returns nil and never awaits) would be pulled forever.
local function upload_body()
  local r = rand(6)
  local v
  if r == 1 then return bounded_source(true) end
  if r == 2 then
    local ok, s = call_np("stream.from", tide.stream.from, { "a", "b", chance(0.2) and 42 or "c" })
    if ok then all_streams[s] = true; return s end
    return nil
  end
  if r == 3 then v = A_stream() elseif r == 4 then return ("y"):rep(choose { 10, 300000 }) else v = P() end
  if type(v) == "function" or kind_of(v) == "tbl" then return bounded_source(true) end
  return v
end

local HTTP_FIELDS = {
  method = function() return choose { "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "BREW", "",
                                       "G E T", "\0", P() } end,
  query = function() return choose { { a = 1, b = "x y" }, { list = { 1, 2, 3 } }, { [1] = "x" }, { a = { {} } },
                                      { a = true }, P() } end,
  headers = function() return chance(0.9) and headers() or P() end,
  body = upload_body,
  json = function()
    local cyc = {}
    cyc.c = cyc
    return choose { { a = 1 }, cyc, { f = print }, 0 / 0, "s", P() }
  end,
  form = function() return choose { { a = "1", b = 2 }, { a = {} }, P() } end,
  timeout = function() return choose { 0.05, 1, 5, 0, -1, 0 / 0, math.huge, 1e308, 0.0001, P() } end,
  connect_timeout = function() return choose { 0.05, 1, 0, -1, 0 / 0, math.huge, P() } end,
  follow = function() return choose { true, false, P() } end,
  max_redirects = function() return choose { 0, 1, 10, -1, -5, 0 / 0, 1e300, P() } end,
  verify = function() return choose { true, false, P() } end,
  ca_file = function() return choose { TMP .. "/missing.pem", TMP .. "/a", "", P() } end,
  proxy = function() return choose { "http://127.0.0.1:1", "", "socks5://127.0.0.1:1", P() } end,
  auth = function() return choose { { user = "u", password = "p" }, { user = 1 }, {}, P() } end,
  aws_sigv4 = function()
    return choose { { region = "us-east-1", service = "s3", key = "k", secret = "s" }, { region = 1 },
                    { key = "k", secret = "s" }, P() }
  end,
  http_version = function() return choose { "1.1", "1.0", "2", "2-prior-knowledge", "3", "x", P() } end,
  signal = function() return G("signal") end,
  stream = function() return choose { true, false, P() } end,
  on_progress = function() return F() end,
  max_body_size = function() return choose { 10, 1e9, 0, -5, math.huge, 0 / 0, 1.5, P() } end,
  buffer_size = function() return choose { 1024, 0, -1, 0 / 0, 1e12, 16, P() } end,
  decompress = function() return choose { true, false, P() } end,
  retry = function()
    return choose { { attempts = 2, base = 0.001 }, { attempts = 0 }, { bogus = 1 }, { attempts = 3, base = 0 }, P() }
  end,
}
local HTTP_FIELD_NAMES = {}
for k in pairs(HTTP_FIELDS) do HTTP_FIELD_NAMES[#HTTP_FIELD_NAMES + 1] = k end
table.sort(HTTP_FIELD_NAMES)

local function http_opts(with_url)
  if chance(0.06) then return P() end
  local o = {}
  if with_url and chance(0.92) then o.url = url() end
  if chance(0.5) then
    -- a plausible request
    if chance(0.3) then o.stream = true end
    if chance(0.2) then o.method = choose { "GET", "POST", "HEAD" } end
    if chance(0.1) then o.signal = G("signal") end
    if chance(0.1) then o.max_body_size = choose { 10, 100000 } end
    if chance(0.1) then o.on_progress = F() end
    return o
  end
  for _, k in ipairs(HTTP_FIELD_NAMES) do
    if chance(0.07) then o[k] = HTTP_FIELDS[k]() end
  end
  if chance(0.3) then o.timeout = choose { 0.2, 1, 2 } end
  if chance(0.03) then o[choose { "bogus", 1, true }] = 1 end
  return o
end

local function client_opts()
  if chance(0.1) then return P() end
  local o = {}
  if chance(0.7) then o.base_url = choose { BASE or "http://127.0.0.1:1", (BASE or "") .. "/api/", "ftp://x", "" } end
  if chance(0.3) then o.headers = headers() end
  if chance(0.5) then o.timeout = choose { 0.5, 2, 0, -1, 0 / 0, math.huge } end
  if chance(0.2) then o.max_connections = choose { 1, 4, 0, -1, 0 / 0, 1e300 } end
  if chance(0.2) then o.max_per_host = choose { 1, 2, 0, -1, 0 / 0, 1e300 } end
  if chance(0.2) then o.retry = choose { { attempts = 2, base = 0.001 }, { attempts = 0 }, { bogus = 1 } } end
  if chance(0.03) then o.bogus = 1 end
  return o
end

-- ---------------------------------------------------------------------------
-- Clean-up: cancel and close everything the fuzzer made

local function cancel_all_tasks(why)
  local ok, list = pcall(tide.tasks)
  if not ok then return 0 end
  for _, e in ipairs(list) do pcall(TM.cancel, e.task, why) end
  return #list
end

local function reap(why)
  reaps = reaps + 1
  for t in pairs(all_timers) do pcall(TIMER.cancel, t) end
  for ch in pairs(all_channels) do pcall(CH.close, ch) end
  for s in pairs(all_streams) do pcall(ST.close, s) end
  for s in pairs(fs_streams) do pcall(ST.close, s) end
  for ctl in pairs(all_ctls) do pcall(CTL.abort, ctl, why) end
  for _, r in pairs(settlers) do pcall(r[2], why) end
  for res in pairs(all_responses) do pcall(RESP.close, res) end
  cancel_all_tasks(why)
  -- An operation nobody owns (a sleep, a request, a read started at the top
  -- level) is stopped the way tide.timeout stops what it races.
  for p in pairs(all_promises) do
    if p:state() == "pending" then
      local ok, t = pcall(tide.timeout, 0, p)
      if ok then t:catch(function() end) end
    end
  end
end

-- ---------------------------------------------------------------------------
-- The stall watchdog. Every step of the driver beats; when no step has
-- started for a while the loop is stuck in a wait: first an interrupt as
-- Ctrl-C would send (tide cancels what the top level waits for), then
-- everything is cancelled, and if even that does not help it is a hang.

local heartbeat = now()
local frame = 0              -- the current top-level frame (one SIGINT each)
local sigint_frame = -1
local noarg_run = false      -- inside tide.run(): no interrupt handler there
local escalation = 0

local PID
do
  local f = io.open("/proc/self/stat")
  PID = f and f:read("n")
  if f then f:close() end
end

local function beat()
  heartbeat = now()
  escalation = 0
end

local function stats()
  local ok, s = pcall(core.stats)
  return ok and s or {}
end

local function describe_tasks(limit)
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

local function hang(why)
  local s = stats()
  local ops = {}
  for i = 1, #trail do ops[#ops + 1] = trail[(trail_i + i - 1) % #trail + 1] end
  io.stdout:write(("fuzz: HANG seed=%d after %d calls: %s\n"):format(cfg.seed, calls, why))
  io.stdout:write(("fuzz: stats tasks=%s timers=%s immediates=%s jobs=%s handles=%s\n"):format(
    tostring(s.tasks), tostring(s.timers), tostring(s.immediates), tostring(s.jobs), tostring(s.handles)))
  io.stdout:write("fuzz: last operations: " .. concat(ops, " ") .. "\n")
  io.stdout:write("fuzz: live tasks:\n" .. describe_tasks(20) .. "\n")
  io.stdout:flush()
  os.exit(3, false)
end

local function send_sigint()
  if not PID then return false end
  interrupts = interrupts + 1
  local p = io.popen("kill -INT " .. PID)
  if p then p:close() end
  return true
end

local function watchdog()
  local stall = now() - heartbeat
  if stall < 0.75 then return end
  if stall > 15 then hang(("no progress for %.1f s"):format(stall)) end
  if escalation == 0 then
    escalation = 1
    if not noarg_run and sigint_frame ~= frame then
      sigint_frame = frame
      send_sigint()
      return
    end
  end
  if escalation == 1 and stall > 2 then
    escalation = 2
    reap("fuzz: stalled")
  elseif escalation == 2 and stall > 5 then
    escalation = 3
    reap("fuzz: stalled")
  end
end

-- ---------------------------------------------------------------------------
-- Unhandled rejections: counted, not printed

local function on_unhandled(reason, promise)
  if promise == nil then
    callback_errors = callback_errors + 1
    count(rejs, "callback:" .. classify("callback error", reason))
    return
  end
  unhandled = unhandled + 1
  count(rejs, classify("unhandled rejection", reason))
  local k = kind_of(promise)
  if k ~= "promise" and k ~= "task" then
    finding("unhandled promise " .. k, "on_unhandled got something that is not a promise: " .. describe(promise))
  end
end
local handler_dirty = false
local handler_calls = 0      -- calls of a handler the fuzzer installed, this step

-- ---------------------------------------------------------------------------
-- Operations

local OPS, total_weight = {}, 0
local skipped = {}
for prefix in (cfg.skip or ""):gmatch("[^,]+") do skipped[#skipped + 1] = prefix end
local function op(name, weight, fn)
  for _, prefix in ipairs(skipped) do
    if name:sub(1, #prefix) == prefix then return end
  end
  OPS[#OPS + 1] = { name = name, w = weight, fn = fn }
  total_weight = total_weight + weight
end

do -- (a block: the main chunk may have only 200 locals)

-- Promises -------------------------------------------------------------------

local function make_executor()
  local mode = rand(7)
  return function(resolve, reject)
    if winding_down then return end
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

-- Tasks ----------------------------------------------------------------------

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
    quiesce = true
    reap("fuzz: tide.run()")
  end, 0.02)
  reaper:unref()
  noarg_run = true
  call_np("tide.run()", tide.run)
  noarg_run = false
  quiesce = false
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

-- Time -----------------------------------------------------------------------

local intervals = {}
local function make_callback()
  if chance(0.4) then return F() end
  local k = rand(3)
  return function(...)
    if winding_down or quiesce then return end
    for i = 1, math.min(select("#", ...), 4) do know((select(i, ...))) end
    for _ = 1, k do nested_op() end
  end
end

op("tide.sleep", 6, function() call("tide.sleep", tide.sleep, dur(), sig_opts()) end)
op("tide.set_timeout", 4, function() call("tide.set_timeout", tide.set_timeout, make_callback(), dur()) end)
op("tide.set_interval", 2, function()
  local box, left = {}, rand(5)
  local cb = make_callback()
  local limited = function(...)
    left = left - 1
    if left <= 0 and box.t then pcall(TIMER.cancel, box.t) end
    if type(cb) == "function" then return cb(...) end
  end
  local ok, t = call("tide.set_interval", tide.set_interval, chance(0.9) and limited or cb, dur())
  if ok and kind_of(t) == "timer" then
    box.t = t
    intervals[#intervals + 1] = t
    if #intervals > 6 then pcall(TIMER.cancel, table.remove(intervals, 1)) end
  end
end)
op("timer:method", 4, function()
  local m = choose { "cancel", "cancel", "unref", "ref" }
  call("timer:" .. m, TIMER[m], A("timer"))
end)
op("<close>", 2, function()
  local kinds = { "timer", "stream", "channel", "scope", "response", "client", "promise", "tbl" }
  blocking("<close>", function(v)
    local _ <close> = v
  end, A(choose(kinds), 0.8))
end)
op("tide.now", 1, function() call("tide.now", tide.now) end)

-- Combinators ----------------------------------------------------------------

op("combinator", 7, function()
  local name = choose { "all", "all_settled", "race", "any" }
  call("tide." .. name, tide[name], promise_list())
end)

-- Cancellation ---------------------------------------------------------------

op("abort_controller", 3, function() call("abort_controller", tide.abort_controller) end)
op("ctl:abort", 3, function() call("ctl:abort", CTL.abort, A("ctl"), chance(0.2) and nil or raise_value()) end)
op("signal fields", 2, function()
  call("signal fields", function(s) return s.aborted, s.reason, tostring(s) end, A("signal"))
end)
op("signal:on_abort", 3, function() call("signal:on_abort", SIG.on_abort, A("signal"), F()) end)
op("signal:throw_if_aborted", 2, function() call("throw_if_aborted", SIG.throw_if_aborted, A("signal")) end)
op("timeout_signal", 2, function()
  local d = dur()
  local ok, s = call("timeout_signal", tide.timeout_signal, d)
  d = last_args[1]
  if ok and kind_of(s) == "signal" and type(d) == "number" and d > 1 then long_signals[s] = true end
end)
op("any_signal", 2, function()
  call("any_signal", tide.any_signal, chance(0.9) and small_list(function() return A("signal") end, 3) or P())
end)
op("tide.timeout", 5, function()
  local d = dur()
  -- A long deadline on work that never ends leaves its timer pending (as
  -- it should): rare, and counted.
  if type(d) == "number" and d > 1 and not chance(0.05) then d = 1 end
  local ok, p = call("tide.timeout", tide.timeout, d, chance(0.5) and F() or A_prom(), sig_opts())
  d = last_args[1]
  if ok and type(d) == "number" and d > 1 then
    long_timeout_calls = long_timeout_calls + 1
    if kind_of(p) == "promise" then long_timeouts[p] = true end
  end
end)

-- Scopes ---------------------------------------------------------------------

op("tide.scope(fn)", 3, function() call("tide.scope(fn)", tide.scope, F(), sig_opts()) end)
op("tide.scope()", 1, function() call("tide.scope()", tide.scope) end)
op("scope:spawn", 3, function() call("scope:spawn", SCOPE.spawn, A("scope"), F(), P()) end)
op("scope:cancel", 1, function() call("scope:cancel", SCOPE.cancel, A("scope"), P()) end)
op("scope block", 2, function()
  local n, fail, cancel = rand(3), chance(0.2), chance(0.3)
  blocking("scope block", function()
    local s <close> = tide.scope()
    put(s)
    for _ = 1, n do s:spawn(F(), P()) end
    if cancel then s:cancel(P()) end
    if fail then error(raise_value(), 0) end
    return s
  end)
end)

-- Patterns -------------------------------------------------------------------

local function retry_opts()
  if chance(0.15) then return nil end
  if chance(0.05) then return P() end
  local o = {}
  if chance(0.7) then o.attempts = choose { 1, 2, 3, 0, -1, 1.5, 0 / 0, "2", 5 } end
  if chance(0.9) then o.base = choose { 0, 0.001, 0.002, 0.01, -1, 0 / 0 } end
  if chance(0.2) then o.max = choose { 0, 0.01, 1, -1 } end
  if chance(0.2) then o.factor = choose { 0, 1, 2, 1e308 } end
  if chance(0.2) then o.jitter = choose { 0, 0.5, 1, -1 } end
  if chance(0.2) then o.should_retry = F() end
  if chance(0.2) then o.on_retry = F() end
  if chance(0.2) then o.signal = G("signal") end
  if chance(0.03) then o.bogus = true end
  return o
end

op("tide.retry", 3, function() call("tide.retry", tide.retry, F(), retry_opts()) end)
op("tide.breaker", 2, function()
  local o = chance(0.8) and { threshold = choose { 1, 2, 5, 0, -1, 1.5 }, cooldown = choose { 0, 0.01, 1, -1, 0 / 0 } }
    or (chance(0.5) and P() or nil)
  call("tide.breaker", tide.breaker, o)
end)
op("b:call", 4, function() call("b:call", BRK.call, A("breaker"), F(), P()) end)
op("b.state", 1, function()
  call("b.state", function(b) return b.state, b.failures, tostring(b) end, A("breaker"))
end)
op("tide.semaphore", 2, function()
  call("tide.semaphore", tide.semaphore, choose { 1, 2, 3, 0, -1, 1.5, "2", math.maxinteger, P() })
end)
op("sem:acquire", 3, function() call("sem:acquire", SEM.acquire, A("sem"), sig_opts()) end)
op("sem:release", 3, function() call("sem:release", SEM.release, A("sem")) end)
op("sem:with", 3, function() call("sem:with", SEM.with, A("sem"), F(), sig_opts()) end)
op("tide.map", 3, function()
  local o
  if chance(0.6) then
    o = { concurrency = choose { 1, 2, 3, 0, -1, 1.5, nil }, signal = chance(0.2) and G("signal") or nil }
  elseif chance(0.2) then
    o = P()
  end
  call("tide.map", tide.map, value_list(), F(), o)
end)

-- Channels -------------------------------------------------------------------

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

-- Streams --------------------------------------------------------------------

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

-- Files ----------------------------------------------------------------------

local FS_PATHS = { read = { 1 }, write = { 1 }, append = { 1 }, lines = { 1 }, stat = { 1 }, readdir = { 1 },
                   mkdir = { 1 }, remove = { 1 }, rename = { 1, 2 }, exists = { 1 } }

local function fs_call(name, ...)
  local args = pack(...)
  for _, i in ipairs(FS_PATHS[name]) do
    if not path_ok(args[i]) then
      finding("fuzzer fs path", "the fuzzer built an fs path outside its directory: " .. tostring(args[i]))
      return
    end
  end
  local ok, r = do_call("fs." .. name, false, true, tide.fs[name], unpack(args, 1, args.n))
  if ok and name == "lines" and kind_of(r) == "stream" then fs_streams[r] = true end
end

op("fs", 8, function()
  local name = choose { "read", "write", "append", "lines", "stat", "readdir", "mkdir", "remove", "rename", "exists",
                        "read", "write", "lines", "exists" }
  if name == "write" or name == "append" then
    fs_call(name, fs_path(), fs_data(), fs_opts())
  elseif name == "rename" then
    fs_call(name, fs_path(), fs_path(), fs_opts())
  elseif name == "lines" then
    fs_call(name, fs_path())
  else
    fs_call(name, fs_path(), fs_opts())
  end
end)

-- HTTP -----------------------------------------------------------------------

local VERBS = { "get", "post", "put", "patch", "delete", "head" }

op("http.request", 3, function()
  local ok, p = call("http.request", tide.http.request, http_opts(true))
  if ok and chance(0.8) then follow(p) end
end)
op("http.verb", 4, function()
  local v = choose(VERBS)
  local ok, p = call("http." .. v, tide.http[v], url(), chance(0.7) and http_opts(false) or nil)
  if ok and chance(0.8) then follow(p) end
end)
op("http.client", 1, function()
  call("http.client", tide.http.client, client_opts())
  while #client_list > 8 do
    local c = table.remove(client_list, 1)
    if pcall(CLIENT.close, c) then all_clients[c] = nil else client_list[#client_list + 1] = c; break end
  end
end)
op("client:request", 3, function()
  local v = choose { "request", "get", "post", "put", "patch", "delete", "head" }
  local ok, p
  if v == "request" then
    ok, p = call("client:request", CLIENT.request, A("client"), http_opts(true))
  else
    ok, p = call("client:" .. v, CLIENT[v], A("client"), url(true), chance(0.7) and http_opts(false) or nil)
  end
  if ok and chance(0.8) then follow(p) end
end)
op("client:close", 1, function() call("client:close", CLIENT.close, A("client")) end)
op("http.close", 1, function() call("http.close", tide.http.close) end)
op("response", 5, function()
  local res = A("response")
  local m = choose { "ok", "raise_for_status", "json", "header_values", "chunks", "lines", "close", "fields",
                     "headers", "tostring", "chunks", "lines" }
  if m == "fields" then
    call("res fields", function(r) return r.status, r.url, r.http_version, r.body, r.timings end, res)
  elseif m == "headers" then
    call("res.headers", function(r, k) return r.headers[k] end, res,
      choose { "content-type", "Content-Length", 1, P() })
  elseif m == "tostring" then
    call("tostring(res)", tostring, res)
  elseif m == "header_values" then
    call("res:header_values", RESP.header_values, res, choose { "server", "X-None", 42, P() })
  else
    local ok, s = call("res:" .. m, RESP[m], res)
    if ok and kind_of(s) == "stream" then all_streams[s] = true end
  end
end)

-- Errors and introspection ---------------------------------------------------

op("tide.error", 2, function()
  local fields = choose { nil, { cause = P(), status = 500 }, { kind = 42 }, { message = {} }, P() }
  call("tide.error", tide.error, chance(0.8) and choose(KINDS) or P(), chance(0.8) and "fuzz: message" or P(), fields)
end)
op("tide.is_error", 2, function() call("tide.is_error", tide.is_error, P(), chance(0.5) and choose(KINDS) or P()) end)
op("error chains", 1, function()
  local e = tide.error(choose(KINDS), "fuzz: chain")
  local r = rand(3)
  if r == 1 then e.cause = e
  elseif r == 2 then e.cause = tide.error("fuzz", "inner", { cause = e })
  else e.cause = P() end
  put(e)
  call("tostring(err)", tostring, e)
end)
-- A handler whose own work fails unhandled is called again from the same
-- drain, for ever (a known hang): the handler the fuzzer installs gives up
-- after a few calls per step.
op("tide.on_unhandled", 1, function()
  local h = chance(0.5) and F() or nil
  if type(h) == "function" then
    local f = h
    h = function(...)
      handler_calls = handler_calls + 1
      if handler_calls > 20 then return end
      return f(...)
    end
  end
  handler_calls = 0
  local ok, prev = call_np("tide.on_unhandled", tide.on_unhandled, h)
  if ok and h ~= nil and type(h) == "function" then
    handler_dirty = true -- put back at the next step
  elseif ok then
    pcall(tide.on_unhandled, on_unhandled)
  end
  if ok and type(prev) ~= "function" then finding("on_unhandled prev", "on_unhandled returned " .. describe(prev)) end
end)

-- Odd contexts ---------------------------------------------------------------

op("coroutine", 2, function()
  local f = chance(0.5) and make_fn() or function(...)
    nested_op()
    return fz_await(...)
  end
  local co = coroutine.create(f)
  put(co)
  call("coroutine.resume", coroutine.resume, co, P())
end)
op("resume a coroutine", 2, function()
  local co = A("co", 0.9)
  local r = rand(4)
  if r <= 2 then
    call("coroutine.resume", coroutine.resume, co, P())
  elseif r == 3 then
    call("coroutine.close", coroutine.close, co)
  else
    call("coroutine.status", coroutine.status, co)
  end
end)
op("not yieldable", 2, function()
  local r = rand(4)
  local inner = function()
    if chance(0.5) then nested_op() else pcall(fz_await, P()) end
  end
  if r == 1 then
    call("sort comparator", table.sort, { 3, 1, 2 }, function(a, b) inner(); return a < b end)
  elseif r == 2 then
    call("gsub callback", string.gsub, "abc", "%w", function(c) inner(); return c end)
  elseif r == 3 then
    call("__tostring", tostring, setmetatable({}, { __tostring = function() inner(); return "x" end }))
  else
    call("__index", function(t) return t.x end, setmetatable({}, { __index = function() inner(); return 1 end }))
  end
end)
op("gc", 1, function() collectgarbage(chance(0.3) and "collect" or "step") end)
op("finalizer", 1, function()
  setmetatable({}, { __gc = function()
    if not winding_down then nested_op() end
  end })
end)

end

-- ---------------------------------------------------------------------------
-- The driver

local function pick_op()
  local r = rand(total_weight)
  for i = 1, #OPS do
    r = r - OPS[i].w
    if r <= 0 then return OPS[i] end
  end
  return OPS[#OPS]
end

local function run(o)
  local saved = op_name
  op_name = o.name
  local ok, err = pcall(o.fn)
  op_name = saved
  if not ok then
    note("op " .. o.name, ("the fuzzer's operation %s raised: %s"):format(o.name, safe_tostring(err)))
  end
end

run_op = function() run(pick_op()) end

local function driver_step()
  beat()
  steps = steps + 1
  depth = 0
  if handler_dirty then
    handler_dirty = false
    pcall(tide.on_unhandled, on_unhandled)
  end
  handler_calls = 0
  local o = pick_op()
  trail_i = trail_i % 32 + 1
  trail[trail_i] = o.name
  if trace_file then trace_file:write(steps, " ", calls, " ", o.name, "\n") end
  local t0 = now()
  run(o)
  op_time[o.name] = (op_time[o.name] or 0) + (now() - t0)
  if chance(0.002) then collectgarbage() end
end

local function out_of_budget() return calls >= cfg.calls or now() >= deadline end

local function stretch_top(n)
  for _ = 1, n do
    if out_of_budget() then return end
    frame = frame + 1
    driver_step()
  end
end

local function stretch_main(n)
  frame = frame + 1
  local body = function()
    main_task = tide.current()
    for _ = 1, n do
      if out_of_budget() then break end
      driver_step()
    end
    return "main done"
  end
  local r = rand(3)
  if r == 1 then
    local ok, err = pcall(tide.run, body)
    if not ok then note_error("main task", err) end
  else
    local t = tide.spawn(body)
    if r == 2 then
      local ok, err = pcall(tide.await, t)
      if not ok then note_error("main task", err) end
    else
      local ok, fine, err = pcall(tide.pawait, t)
      if not ok then note_error("main task", fine) elseif not fine then note_rejection("main task", err) end
    end
  end
  main_task = nil
end

-- ---------------------------------------------------------------------------
-- Seeding the pool

local function fd_count()
  local p = io.popen("ls /proc/" .. tostring(PID) .. "/fd 2>/dev/null | wc -l")
  if not p then return nil end
  local n = tonumber(p:read("a"))
  p:close()
  return n
end

do
  for _, v in ipairs { 0, -1, 0.5, 1e308, math.huge, -math.huge, 0 / 0, 1, 2, 3, 7, 100, math.maxinteger,
                       math.mininteger, 2 ^ 53, -0.0, 1e-9, 0.001, 0.01 } do put(v) end
  for _, v in ipairs { "", ("L"):rep(100000), "a\0b", "line1\r\nline2\n", "ftp://x", "http://127.0.0.1:1/",
                       "GET", "post", "timeout", "cancelled", "%s%d%n", "\255\254", "next", "then", "n",
                       "fuzz: a string" } do put(v) end
  if BASE then
    for _, p in ipairs { "/api/fast", "/api/users/7", "/api/items/x", "/files/big.bin", "/nope" } do put(BASE .. p) end
  end
  put(true)
  put(false)
  put(nil)
  for _, t in ipairs(odd_tables()) do put(t) end
  for _ = 1, 12 do put(make_thenable()) end
  for _ = 1, 24 do put(make_fn()) end
  put(callable_table())
  put(coroutine.create(make_fn()))
  put(io.stdout)
  put(tide.resolve(42))
  local rejected = tide.reject("fuzz: seeded rejection")
  rejected:catch(function() end)
  put(rejected)
  put(tide.deferred())
  put(tide.abort_controller())
  put(tide.channel(1))
  put(tide.semaphore(1))
  put(tide.breaker())
  put(tide.error("fuzz", "seeded"))
  know(tide.error)
end

-- ---------------------------------------------------------------------------
-- Main

local function main()
  local fds_before = fd_count()
  tide.on_unhandled(on_unhandled)
  local wd_timer = tide.set_interval(watchdog, 0.05)
  wd_timer:unref()
  -- The watchdog runs from the loop; Lua code that spins without letting the
  -- loop turn is caught by a count hook (which coroutines made later inherit).
  debug.sethook(function()
    if now() - heartbeat > 20 then hang(("busy for %.1f s without the loop turning"):format(now() - heartbeat)) end
  end, "", 1000000)

  local next_progress = cfg.calls // 10
  local function progress()
    if calls < next_progress or cfg.quiet then return end
    while next_progress <= calls do next_progress = next_progress + math.max(1, cfg.calls // 10) end
    local s = stats()
    print(("fuzz: %3d%% calls=%d steps=%d t=%.1fs tasks=%s timers=%s unhandled=%d mem=%.0fKiB"):format(
      math.min(100, calls * 100 // math.max(1, cfg.calls)), calls, steps, now() - t_start, tostring(s.tasks),
      tostring(s.timers), unhandled, collectgarbage("count")))
    io.stdout:flush()
  end

  while not out_of_budget() do
    local n = 20 + rand(150)
    if chance(0.5) then stretch_top(n) else stretch_main(n) end
    progress()
  end
  local deadline_hit = calls < cfg.calls

  -- The state of every promise still tracked, before the clean-up.
  local function promise_states()
    local st = { pending = 0, fulfilled = 0, rejected = 0 }
    for p in pairs(all_promises) do
      local ok, s = pcall(PM.state, p)
      if ok then st[s] = st[s] + 1 end
    end
    return st
  end
  local before = promise_states()

  -- Clean-up: stop, cancel, close; let the loop go idle (bounded).
  beat()
  winding_down = true
  local t_clean = now()
  for i = 1, 300 do
    beat()
    if i == 1 or i % 20 == 0 then reap("fuzz: end") end
    for c in pairs(all_clients) do pcall(CLIENT.close, c) end
    pcall(tide.http.close)
    tide.pawait(tide.sleep(i < 10 and 0 or 0.01))
    local s = stats()
    if s.tasks == 0 and s.immediates == 0 and s.jobs == 0 and i > 5 then
      local left = 1 -- the watchdog's own interval
      for sig in pairs(long_signals) do if not sig.aborted then left = left + 1 end end
      for p in pairs(long_timeouts) do if p:state() == "pending" then left = left + 1 end end
      if long_timeout_calls > 0 then left = left + long_timeout_calls end
      if s.timers <= left then break end
    end
    if now() - t_clean > 10 then break end
  end
  wd_timer:cancel()
  for c in pairs(all_clients) do pcall(CLIENT.close, c) end
  pcall(tide.http.close)
  pcall(tide.pawait, tide.sleep(0))
  local after = promise_states()
  collectgarbage()
  collectgarbage()

  -- What is left over: explained by long deadlines the fuzzer asked for, or
  -- a finding.
  local s = stats()
  local expected_timers = 0
  for sig in pairs(long_signals) do if not sig.aborted then expected_timers = expected_timers + 1 end end
  -- (an upper bound: the promise tide.timeout returns may be a follower)
  local refd_timers = long_timeout_calls
  expected_timers = expected_timers + long_timeout_calls
  if (s.tasks or 0) > 0 then
    finding("leftover tasks", ("%d task(s) still live after cancelling every task repeatedly (a task that "
      .. "cannot be cancelled, or one waiting for one):\n%s"):format(s.tasks, describe_tasks(10)))
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
  local fds_after = fd_count()
  if fds_before and fds_after and fds_after > fds_before then
    local p = io.popen("ls -l /proc/" .. tostring(PID) .. "/fd 2>/dev/null")
    local listing = p and p:read("a") or ""
    if p then p:close() end
    finding("fd leak", ("%d file descriptor(s) open at the end, %d at the start:\n%s"):format(
      fds_after, fds_before, listing))
  end
  -- The default handler back; the temporary directory away.
  tide.on_unhandled(nil)
  os.execute("chmod -R u+rwX " .. TMP .. " 2>/dev/null; rm -rf " .. TMP)

  -- ---------------------------------------------------------------------------
  -- Report

  local function list_counts(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = ("%s=%d"):format(k, t[k]) end
    return concat(parts, " ")
  end

  local nerr, nrej = 0, 0
  for _, v in pairs(errs) do nerr = nerr + v end
  for _, v in pairs(rejs) do nrej = nrej + v end
  print(("fuzz: summary seed=%d calls=%d steps=%d nested=%d time=%.1fs lua-errors=%d [%s] rejections=%d "
    .. "(unhandled=%d, callback-errors=%d) promises=%d settled=%d pending=%d (after clean-up: pending=%d) "
    .. "interrupts=%d reaps=%d"):format(
    cfg.seed, calls, steps, nested_steps, now() - t_start, nerr, list_counts(errs), nrej, unhandled, callback_errors,
    promises_seen, before.fulfilled + before.rejected, before.pending, after.pending, interrupts, reaps))
  if not cfg.quiet then
    print("fuzz: rejection reasons: " .. list_counts(rejs))
    print(("fuzz: end stats tasks=%s timers=%s (expected %d) immediates=%s jobs=%s handles=%s fds=%s->%s "
      .. "long-durations=%d"):format(tostring(s.tasks), tostring(s.timers), expected_timers, tostring(s.immediates),
      tostring(s.jobs), tostring(s.handles), tostring(fds_before), tostring(fds_after), long_durations))
  end
  if cfg.verbose then
    local names = {}
    for k in pairs(op_time) do names[#names + 1] = k end
    table.sort(names, function(a, b) return op_time[a] > op_time[b] end)
    local parts = {}
    for i = 1, math.min(15, #names) do
      parts[#parts + 1] = ("%s=%.2fs/%d"):format(names[i], op_time[names[i]], per_op[names[i]] or 0)
    end
    print("fuzz: time by operation: " .. concat(parts, " "))
    print("fuzz: objects made: " .. list_counts(created))
    print("fuzz: calls by name: " .. list_counts(per_op))
  end
  if deadline_hit then
    print(("fuzz: note: the time limit (%.0f s) stopped the run after %d of %d calls"):format(
      cfg.limit, calls, cfg.calls))
  end
  local keys = {}
  for k in pairs(notes) do keys[#keys + 1] = k end
  table.sort(keys)
  if #keys > 0 and cfg.verbose then
    print(("fuzz: %d note(s) (not failures):"):format(#keys))
    for _, k in ipairs(keys) do print(("  [%dx] %s"):format(notes[k].count, notes[k].text)) end
  elseif #keys > 0 then
    print(("fuzz: %d note(s), not failures (raw Lua errors from inside tide's Lua layer, for misuse that "
      .. "no argument check caught); --verbose lists them"):format(#keys))
  end
  keys = {}
  for k in pairs(findings) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local f = findings[k]
    print(("fuzz: FINDING [%dx, first at call %d] %s"):format(f.count, f.calls, f.text))
  end
  if nfindings > 0 then
    print(("fuzz: FAIL seed=%d: %d finding(s)"):format(cfg.seed, nfindings))
    io.stdout:flush()
    os.exit(1, true)
  end
  print(("fuzz: PASS seed=%d"):format(cfg.seed))
  io.stdout:flush()
  os.exit(0, true)

end

main()
