--- tide: async/await for Lua 5.4.
--
-- Promises, tasks, timers and combinators live in the C module `tide.core`;
-- this module adds the policy written in Lua (abort signals, timeouts,
-- scopes) and is the public surface. See README.md for the tour.
--
--     local tide = require "tide"
--     tide.run(function()
--       tide.sleep(0.1):await()
--       local a, b = table.unpack(tide.all{ work(1), work(2) }:await())
--     end)
-- @module tide
local core = require "tide.core"
local signal = require "tide.signal"
local timeout = require("tide.timeout").timeout
local scope = require("tide.scope").scope
local stream = require "tide.stream"
local check = require "tide.check"

local error, getmetatable = error, getmetatable

-- Origins (where a task, operation or promise was made) skip the frames of
-- tide's own Lua files: the user's line is the one worth naming.
do
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^(@.*[/\\])init%.lua$")
  if dir then core.lib_source(dir) end
end

--- @class tide.promise
--- A value that settles later: `"pending"` until it is fulfilled with a
--- value or rejected with a reason.
local Promise = {}

--- Like JavaScript's `finally`: `f()` runs when the promise settles, with no
--- argument; a promise it returns is waited for; the original outcome passes
--- through unless `f` raises (or its promise rejects).
--- @param f fun(): any
--- @return tide.promise
function Promise:finally(f)
  local mt = getmetatable(self)
  if mt ~= core.promise_mt and mt ~= core.task_mt and mt ~= core.operation_mt then
    error("bad argument #1 to 'finally' (tide.promise expected; call it as promise:finally(f))", 2)
  end
  if not check.is_callable(f) then return self:next(f, f) end
  return self:next(
    function(v) return core.resolve(f()):next(function() return v end) end,
    function(e) return core.resolve(f()):next(function() error(e, 0) end) end)
end

-- The methods written here join the C class through core.interpose; a task
-- is a promise, so tasks get them too.
for name, method in pairs(Promise) do core.interpose("tide.promise", name, method) end

-- The functions written in C are declared for editors in tide/meta.lua.
--- @class tide
local tide = {
  _VERSION = "tide scm",

  -- Promises
  promise = core.promise,       -- tide.promise(function(resolve, reject) ... end)
  deferred = core.deferred,     -- -> promise, resolve, reject
  resolve = core.resolve,
  reject = core.reject,
  queue_microtask = core.queue_microtask,

  -- Tasks and await
  spawn = core.spawn,           -- tide.spawn(fn, ...) -> task
  await = core.await,           -- tide.await(x) -> value (raises the reason)
  pawait = core.pawait,         -- -> true, value | false, reason
  run = core.run,               -- tide.run(fn, ...) / tide.run()
  current = core.current,       -- the running task, or nil

  -- Time
  sleep = core.sleep,           -- tide.sleep(s [, {signal=}]) -> promise
  set_timeout = core.set_timeout,
  set_interval = core.set_interval,
  now = core.now,

  -- Combinators
  all = core.all,
  all_settled = core.all_settled,
  race = core.race,
  any = core.any,

  -- Cancellation, timeouts, structure
  abort_controller = signal.abort_controller,
  timeout_signal = signal.timeout_signal,
  any_signal = signal.any_signal,
  timeout = timeout,
  scope = scope,

  -- Patterns
  retry = require("tide.retry").retry,
  breaker = require("tide.breaker").breaker,
  semaphore = require("tide.semaphore").semaphore,
  map = require("tide.map").map,

  -- Streams
  channel = require("tide.channel").channel,
  generator = stream.generator,
  pipe = require("tide.pipe").pipe, -- tide.pipe(source, sink, opts) -> promise of bytes moved
  stream = stream,              -- stream.from(list), stream.new(pull, close)

  -- Files and HTTP
  fs = require "tide.fs",
  http = require "tide.http",
  json = require "tide.json",   -- decode/encode; integers stay integers

  -- Errors and introspection
  error = core.error,           -- tide.error(kind, message [, fields])
  is_error = core.is_error,     -- tide.is_error(err [, kind])
  on_unhandled = core.on_unhandled,
}

-- One line per entry of tide.handles().
local function describe(h)
  local s = { h.kind }
  if h.kind == "task" then
    s[#s + 1] = tostring(h.task)
    if h.where then s[#s + 1] = "at " .. h.where end
    if h.awaiting ~= nil then
      s[#s + 1] = "awaiting " .. tostring(h.awaiting)
      local made = core.origin(h.awaiting)
      if made then s[#s + 1] = "(made at " .. made .. ")" end
    end
    if h.spawned then s[#s + 1] = "spawned at " .. h.spawned end
  else
    s[#s + 1] = tostring(h.promise or h.timer)
    if h.method then s[#s + 1] = h.method end
    if h.url then s[#s + 1] = h.url end
    if h.call then s[#s + 1] = h.call end
    if h.path then s[#s + 1] = h.path end
    if h.to then s[#s + 1] = "to " .. h.to end
    if h.due_in then s[#s + 1] = ("due in %.3g s"):format(h.due_in) end
    if h.started then s[#s + 1] = "started at " .. h.started end
    if h.owner then s[#s + 1] = "by " .. tostring(h.owner) end
  end
  return table.concat(s, " ")
end

-- The entries of tide.tasks() and tide.handles() read well at the REPL.
local entry_mt = { __name = "tide.handle", __tostring = describe }

local function with_tostring(list)
  for i = 1, #list do setmetatable(list[i], entry_mt) end
  return list
end

--- Every unfinished task, oldest first: `{task=, status=, awaiting=,
--- where=}` entries, whose `tostring` says it in one line.
--- @return table[]
function tide.tasks()
  local list = core.tasks()
  for i = 1, #list do list[i].kind = "task" end
  return with_tostring(list)
end

--- Every live task (as tide.tasks; with debug origins, `spawned =
--- "file:line"`), every pending operation (`kind` = its class: "sleep",
--- "fs", "http", "operation", ...; `promise`, `started = "file:line"`,
--- `owner` = the task that started it, `due_in` for sleeps; `method` and
--- `url` for HTTP, the URL without credentials or signatures; `call`,
--- `path` and, for a rename, `to` for files) and every pending timer
--- (`kind = "timer"` or `"interval"`, `timer`, `due_in`, `started`): what
--- a script that does not finish is waiting for. Each entry's `tostring`
--- says it in one line.
--- @return table[]
function tide.handles() return with_tostring(core.handles()) end

--- Writes every live task (status, what it awaits, where it waits, where
--- it was spawned) and every pending operation and timer (where it was
--- started) to `file` (default: io.stderr), one per line: what a script
--- that does not finish is stuck on.
--- @param file file*|nil
--- @return nil
function tide.dump(file)
  file = file or io.stderr
  if io.type(file) ~= "file" then
    error(("bad argument #1 to 'dump' (file expected, got %s)"):format(type(file)), 2)
  end
  local list = core.handles()
  local tasks = 0
  -- (describe is the entries' __tostring)
  for i = 1, #list do if list[i].kind == "task" then tasks = tasks + 1 end end
  local lines = { ("tide.dump: %d live task(s), %d pending operation(s) and timer(s)"):format(
    tasks, #list - tasks) }
  for i = 1, #list do lines[#lines + 1] = "  " .. describe(list[i]) end
  file:write(table.concat(lines, "\n"), "\n")
  file:flush()
end

local debug_options = { slow = "number", origins = "boolean", on_slow = "function" }

-- The default report of a slow step.
local function report_slow(info)
  io.stderr:write(("tide: slow: %s held the loop for %.3f s\n%s"):format(
    info.what, info.seconds, info.traceback and info.traceback .. "\n" or ""))
  io.stderr:flush()
end

--- Diagnostics for hangs and stalls (also `TIDE_DEBUG=1` in the
--- environment, which means `{slow = 0.1, origins = true}`).
--- `slow`: every task step or callback that holds the loop longer than
--- that many seconds is reported through `on_slow(info)` (default: to
--- stderr), `info = {seconds=, what=, traceback=}`; nil turns it off.
--- `origins`: every promise remembers where it was made (core.origin),
--- and unhandled-rejection and deadlock reports say so. Returns the
--- previous settings.
--- @param opts {slow: number|nil, origins: boolean|nil, on_slow: function|nil}
--- @return table
function tide.debug(opts)
  check.options(opts, { slow = true, origins = true, on_slow = true }, "tide.debug", 1)
  opts = opts or {}
  for k, want in pairs(debug_options) do
    if opts[k] ~= nil and type(opts[k]) ~= want then
      error(("bad option '%s' to 'debug' (%s expected, got %s)"):format(k, want, type(opts[k])), 2)
    end
  end
  if opts.slow and opts.slow < 0 then error("bad option 'slow' to 'debug' (seconds >= 0 expected)", 2) end
  local slow, origins, on_slow = core.debug_set(opts.slow, opts.origins,
    opts.slow and (opts.on_slow or report_slow) or nil)
  return { slow = slow, origins = origins, on_slow = on_slow ~= report_slow and on_slow or nil }
end

do
  local env = os.getenv("TIDE_DEBUG")
  if env and env ~= "" and env ~= "0" then tide.debug { slow = 0.1, origins = true } end
end

--- `tide.async(fn)` -> a function that runs `fn` as a new task on each call
--- and returns that task (an async function).
--- @param fn function
--- @return fun(...): tide.task
function tide.async(fn)
  check.callable(fn, 1, "async")
  local spawn = core.spawn
  return function(...) return spawn(fn, ...) end
end

return tide
