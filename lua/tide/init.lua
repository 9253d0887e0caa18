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
  stream = stream,              -- stream.from(list), stream.new(pull, close)

  -- Files and HTTP
  fs = require "tide.fs",
  http = require "tide.http",
  json = require "tide.json",   -- decode/encode; integers stay integers

  -- Errors and introspection
  error = core.error,           -- tide.error(kind, message [, fields])
  is_error = core.is_error,     -- tide.is_error(err [, kind])
  on_unhandled = core.on_unhandled,
  tasks = core.tasks,
}

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
