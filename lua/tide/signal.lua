--- Abort controllers and signals (the AbortController of the web platform).
--
-- A signal is passed as `signal=` to any operation that may wait. Aborting
-- its controller cancels every operation tied to it: the operation's promise
-- rejects with the signal's reason and its I/O stops.
-- @module tide.signal
local core = require "tide.core"
local check = require "tide.check"

local cancel, cancelled_error, report_error = core.cancel, core.cancelled_error, core.report_error
local setmetatable, getmetatable, pcall, error, type = setmetatable, getmetatable, pcall, error, type

--- @class tide.signal
--- @field aborted boolean  true once the controller aborted
--- @field reason any       why it aborted (nil until then)
local Signal = core.signal_mt -- made in C; its methods join it through core.interpose
local methods = {}

function methods.__tostring(s)
  return s.aborted and "tide.signal (aborted)" or "tide.signal (active)"
end

local function new_signal()
  -- ops: operations tied to the signal; weak keys, so an operation that
  -- finished and was dropped does not stay listed.
  return setmetatable({ aborted = false, reason = nil, _ops = setmetatable({}, { __mode = "k" }),
                        _listeners = {} }, Signal)
end

local function is_signal(v)
  return getmetatable(v) == Signal
end

--- Calls `fn(reason)` when the signal aborts (at once if it already has).
--- @param fn fun(reason: any)
--- @return fun() remove  call to stop listening
function methods:on_abort(fn)
  check.self(self, Signal, "tide.signal", "signal", "on_abort")
  check.callable(fn, 1, "on_abort")
  if self.aborted then
    fn(self.reason)
    return function() end
  end
  local listeners = self._listeners
  listeners[#listeners + 1] = fn
  return function()
    for i = #listeners, 1, -1 do
      if listeners[i] == fn then
        table.remove(listeners, i)
        return
      end
    end
  end
end

--- Raises the signal's reason if it has aborted.
--- @return nil
function methods:throw_if_aborted()
  check.self(self, Signal, "tide.signal", "signal", "throw_if_aborted")
  if self.aborted then error(self.reason, 0) end
end

local function abort(signal, reason)
  if signal.aborted then return false end
  signal.aborted, signal.reason = true, reason
  local ops = signal._ops
  signal._ops = nil
  for op in pairs(ops) do cancel(op, reason) end
  local listeners = signal._listeners
  signal._listeners = nil
  for i = 1, #listeners do
    local ok, err = pcall(listeners[i], reason)
    if not ok then report_error(err) end
  end
  return true
end

-- Ties an operation's promise to a signal: aborting cancels it with the
-- signal's reason (at once if it already aborted). C operations given
-- signal= call this too.
local function link(signal, op)
  if signal.aborted then
    cancel(op, signal.reason)
  else
    signal._ops[op] = true
  end
end
-- C operations given signal= call it as the signal class's _link.
methods._link = link
for name, method in pairs(methods) do core.interpose("tide.signal", name, method) end

--- @class tide.abort_controller
--- @field signal tide.signal
local Controller = {}
Controller.__index = Controller
Controller.__name = "tide.abort_controller"

--- Aborts the signal: every operation tied to it is cancelled with `reason`
--- (default: a `cancelled` error). Returns false if it had already aborted.
--- @param reason any
--- @return boolean
function Controller:abort(reason)
  check.self(self, Controller, "tide.abort_controller", "controller", "abort")
  if reason == nil then reason = cancelled_error("aborted") end
  return abort(self.signal, reason)
end

function Controller.__tostring(c)
  return "tide.abort_controller (" .. (c.signal.aborted and "aborted" or "active") .. ")"
end

local M = {}

--- A new controller, with its signal in `.signal`.
--- @return tide.abort_controller
function M.abort_controller()
  return setmetatable({ signal = new_signal() }, Controller)
end

--- A signal that aborts with a `timeout` error after `s` seconds. Its timer
--- does not keep the loop alive on its own.
--- @param s number seconds
--- @return tide.signal
function M.timeout_signal(s)
  check.seconds(s, 1, "timeout_signal")
  local signal = new_signal()
  core.set_timeout(function()
    abort(signal, core.error("timeout", ("timed out after %g s"):format(s), { seconds = s }))
  end, s):unref()
  return signal
end

--- A signal that aborts as soon as any of `signals` does, with its reason.
--- @param signals tide.signal[]
--- @return tide.signal
function M.any_signal(signals)
  if type(signals) ~= "table" then
    error(("bad argument #1 to 'any_signal' (table expected, got %s)"):format(type(signals)), 2)
  end
  local combined = new_signal()
  for i = 1, #signals do
    local s = signals[i]
    if not is_signal(s) then
      error(("bad argument #1 to 'any_signal' (tide.signal expected at index %d)"):format(i), 2)
    end
    if s.aborted then
      abort(combined, s.reason)
      return combined
    end
  end
  for i = 1, #signals do
    signals[i]:on_abort(function(reason) abort(combined, reason) end)
  end
  return combined
end

--- The prelude of every operation written in Lua that may wait: checks
--- `opts` (argument `n` of `fname`; option names `known`, default just
--- `signal`) through tide.check, and returns the signal (or nil) and, if
--- that signal has already aborted, a promise rejected with its reason that
--- the operation returns at once instead of starting anything:
---
---     local sig, rejected = signal.options(opts, "tide.channel:send", 2)
---     if rejected then return rejected end
--- @param opts table|nil
--- @param fname string
--- @param n integer
--- @param known table<string, true>|nil
--- @return tide.signal|nil signal
--- @return tide.promise|nil rejected
function M.options(opts, fname, n, known, level)
  if opts == nil then return nil, nil end
  check.options(opts, known, fname, n, (level or 2) + 1)
  local sig = opts.signal
  if sig and sig.aborted then return sig, core.op_settled(false, sig.reason) end
  return sig, nil
end

--- Returns a promise that settles like `p`, except that when `signal`
--- aborts first it rejects with the signal's reason and cancels `target`'s
--- work (a task or an operation; default `p`). Without a signal, returns `p`.
--- @param p tide.promise
--- @param signal tide.signal|nil
--- @param target tide.promise|nil
--- @return tide.promise
function M.follow(p, signal, target)
  if signal == nil then return p end
  target = target or p
  if signal.aborted then
    cancel(target, cancelled_error(signal.reason))
    return core.op_settled(false, signal.reason)
  end
  local stop
  -- Cancelling the result (out:cancel()) cancels the target.
  local out, resolve, reject = core.operation(function(err)
    stop()
    cancel(target, err)
  end)
  stop = signal:on_abort(function(reason)
    reject(reason)
    cancel(target, cancelled_error(reason))
  end)
  p:next(function(v) stop(); resolve(v) end, function(e) stop(); reject(e) end)
  return out
end

--- Runs `body(...)` as a task and returns a promise of its result that
--- follows `signal` (see `follow`): the shape of most operations written
--- in Lua, after `options`.
--- @param sig tide.signal|nil
--- @param body function
--- @return tide.promise
function M.spawn(sig, body, ...)
  return M.follow(core.spawn(body, ...), sig)
end

M.is_signal = is_signal
M.link = link
return M
