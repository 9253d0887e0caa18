--- fuzz/api_fuzz.lua: a seeded random driver of tide's public API.
--
--   lua5.4 fuzz/api_fuzz.lua --seed N --calls M [--url BASE] [--time-limit S]
--                            [--trace FILE] [--skip OP,OP...] [--hostile] [--tmp DIR] [--quiet]
--                            [--verbose]
--
-- It makes M calls across the public API (promises, tasks, timers,
-- combinators, cancellation, scopes, patterns, channels, streams, files in a
-- temporary directory, HTTP against the local service at BASE) with
-- arguments that are mostly plausible and often wrong: wrong types, wrong
-- counts, wrong order, methods called on the wrong object, metamethods
-- called directly, CR/LF/NUL in HTTP options. Every call runs
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
-- --hostile adds the operations marked known_crash or known_bug (attacks
-- that crash tide, or fail their checks, today; the report lists what was
-- left out without it).
--
-- Exit status: 0 pass, 1 findings, 2 bad usage, 3 hang.
--
-- Layout: this file is the driver; lib/ holds the machinery (cli, rng, the
-- pool of values, the value generator, the harness that calls and judges,
-- the watchdog, the end-of-run leak checks, the report); ops/<area>.lua
-- holds the operations for one area of the API, each a function of the
-- context that calls fz.op(name, weight, fn [, flags]). New API gets its
-- operations in the ops file of its area, or in a new one (loaded without
-- being listed here).
local tide = require "tide"
local core = require "tide.core"

-- Where this file lives: lib/ and ops/ are beside it.
local DIR = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

--- Loads fuzz/<rel> and calls the function it returns with the context.
local function load_part(rel, fz)
  local chunk, err = loadfile(DIR .. "/" .. rel)
  if not chunk then error(err, 0) end
  return chunk()(fz)
end

local cfg = load_part("lib/cli.lua", arg)

print(("fuzz: seed %d"):format(cfg.seed))
io.stdout:flush()

-- The context every lib/ and ops/ file receives: tide, the configuration,
-- S (the run's mutable state), and what the files before it added.
local S = {
  calls = 0, steps = 0,
  winding_down = false, -- the end: fuzz functions do nothing more
  quiesce = false,      -- during tide.run(): no new work, so that it returns
  long_timeout_calls = 0, -- tide.timeout() calls with a deadline past the end of the run
}
local fz = { tide = tide, core = core, cfg = cfg, S = S, now = tide.now, BASE = cfg.url }
S.t_start = fz.now()
S.deadline = S.t_start + cfg.limit
if cfg.trace then
  fz.trace_file = assert(io.open(cfg.trace, "w"))
  fz.trace_file:setvbuf("line")
end

for _, name in ipairs { "rng", "report", "pool", "harness", "gen", "tmpdir", "watchdog", "run", "leaks" } do
  load_part("lib/" .. name .. ".lua", fz)
end

-- The operations, one file per area of the API. These come first, in this
-- order (a seed picks operations by their place in the table); any other
-- file in ops/ is loaded after them, in name order.
local AREAS = { "promise", "task", "timer", "combinators", "cancel", "scope", "patterns", "channel", "stream", "fs",
                "http", "errors", "contexts" }
do
  local files, listed = {}, {}
  for _, area in ipairs(AREAS) do
    files[#files + 1] = area
    listed[area] = true
  end
  local extra = {}
  local ls = assert(io.popen("ls '" .. DIR .. "/ops'"))
  for f in ls:lines() do
    local area = f:match("^([%w_]+)%.lua$")
    if area and not listed[area] then extra[#extra + 1] = area end
  end
  ls:close()
  table.sort(extra)
  for _, area in ipairs(extra) do files[#files + 1] = area end
  for _, area in ipairs(files) do load_part("ops/" .. area .. ".lua", fz) end
end

load_part("lib/seed.lua", fz)

-- ---------------------------------------------------------------------------
-- Main

local fds_before = fz.fd_count()
tide.on_unhandled(fz.on_unhandled)
local wd_timer = tide.set_interval(fz.watchdog, 0.05)
wd_timer:unref()
-- The watchdog runs from the loop; Lua code that spins without letting the
-- loop turn is caught by a count hook (which coroutines made later inherit).
debug.sethook(function()
  local busy = fz.now() - S.heartbeat
  if busy > 20 then fz.hang(("busy for %.1f s without the loop turning"):format(busy)) end
end, "", 1000000)

fz.drive()
fz.report(fz.wind_down(wd_timer, fds_before))
