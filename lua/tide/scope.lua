--- tide.scope: structured concurrency (a trio nursery, a Python TaskGroup).
--
--     tide.scope(function(s)
--       s:spawn(fetch_a)
--       s:spawn(fetch_b)
--     end):await()          -- waits for both; the first error cancels the
--                           -- rest and is raised here
--
--     local s <close> = tide.scope()   -- the same, inside a task: leaving
--     s:spawn(work)                    -- the block waits for the children
-- @module tide.scope
local core = require "tide.core"
local signal = require "tide.signal"
local check = require "tide.check"

local spawn, cancel, cancelled_error = core.spawn, core.cancel, core.cancelled_error
local setmetatable, error, pairs, next = setmetatable, error, pairs, next

--- @class tide.scope
local Scope = {}
Scope.__index = Scope
Scope.__name = "tide.scope"

local function new_scope(owner)
  return setmetatable({
    owner = owner,      -- the task whose body the scope belongs to (or nil)
    live = {},          -- children still running
    failed = false,     -- a child (or the body) failed
    err = nil,          -- the first error
    joining = false,    -- the body has finished; waiting for children
    closed = false,
    idle = nil,         -- resolves when the last child finishes
  }, Scope)
end

-- Records the first failure: cancels the other children, and the body
-- while it still runs.
function Scope:_fail(err)
  if self.failed then return end
  self.failed, self.err = true, err
  local why = cancelled_error(err)
  for child in pairs(self.live) do cancel(child, why) end
  if self.owner and not self.joining and self.owner ~= core.current() then
    cancel(self.owner, why)
  end
end

function Scope:_child_done(child, ok, err)
  self.live[child] = nil
  -- Children stopped because of the failure are not new failures.
  if not ok and not (self.failed and core.is_error(err, "cancelled")) then self:_fail(err) end
  if self.idle and next(self.live) == nil then
    local resolve = self.idle
    self.idle = nil
    resolve()
  end
end

-- The body of every child: it joins the scope's live set as its very first
-- act, so that a failure anywhere (even during its own synchronous start)
-- can cancel it.
local function run_child(scope, fn, ...)
  scope.live[core.current()] = true
  return fn(...)
end

--- Starts `fn(...)` as a child task of the scope and returns it.
--- @param fn function
--- @return tide.task
function Scope:spawn(fn, ...)
  check.self(self, Scope, "tide.scope", "scope", "spawn")
  if self.closed then error("this tide.scope is closed: spawn children before it ends", 2) end
  check.callable(fn, 1, "spawn")
  if self.failed then
    -- Like a nursery being cancelled: the child starts cancelled.
    local child = spawn(error, cancelled_error(self.err), 0)
    child:catch(function() end)
    return child
  end
  local child = spawn(run_child, self, fn, ...)
  child:next(function() self:_child_done(child, true) end,
             function(e) self:_child_done(child, false, e) end)
  return child
end

--- Cancels every child still running (they see `cancelled` errors).
--- @param reason any
function Scope:cancel(reason)
  check.self(self, Scope, "tide.scope", "scope", "cancel")
  local why = cancelled_error(reason)
  for child in pairs(self.live) do cancel(child, why) end
end

-- Waits until no child is left. A cancellation of the waiting task is
-- passed on to the children, and waiting goes on: children always finish
-- before the scope does.
function Scope:_join()
  self.joining = true
  while next(self.live) ~= nil do
    local idle, resolve = core.deferred()
    self.idle = resolve
    local ok, err = core.pawait(idle)
    if not ok then
      if self.failed then
        -- Cancelled again: pass it on again, to the children that outlived
        -- the first cancel (one that caught it, or that finished by
        -- following a promise that is still pending).
        local why = cancelled_error(err)
        for child in pairs(self.live) do cancel(child, why) end
      else
        self:_fail(err)
      end
    end
  end
  self.closed = true
end

-- `local s <close> = tide.scope()`: leaving the block waits for the
-- children and raises the first child error. Leaving through an error
-- cancels them first.
function Scope:__close(err)
  if err ~= nil and not self.failed then self:_fail(err) end
  local task = core.current()
  if task == nil or coroutine.isyieldable() then
    self:_join()
  else
    -- Unwinding where Lua cannot suspend: stop the children, cannot wait.
    self:cancel(err)
    self.closed = true
  end
  if self.failed and self.err ~= err then error(self.err, 0) end
end

function Scope:__tostring()
  local n = 0
  for _ in pairs(self.live) do n = n + 1 end
  return ("tide.scope (%s, %d running)"):format(self.closed and "closed" or "open", n)
end

--- `tide.scope(fn [, opts])` runs `fn(scope)` as a task and returns a
--- promise of its result that settles once every child has finished. The
--- first error (of a child or of `fn`) cancels the rest and rejects it.
--- `tide.scope()` returns a scope for a `<close>` variable.
--- @param fn fun(scope: tide.scope): any
--- @param opts {signal: tide.signal}|nil
--- @return tide.promise|tide.scope
local function scope(fn, opts)
  if fn == nil then return new_scope(core.current()) end
  check.callable(fn, 1, "scope")
  local sig, rejected = signal.options(opts, "tide.scope", 2)
  if rejected then return rejected end
  return signal.spawn(sig, function()
    -- The body is a child like the others: its error fails the scope, and
    -- a child's error cancels it.
    local s = new_scope(nil)
    local body = s:spawn(fn, s)
    s:_join()
    if s.failed then error(s.err, 0) end
    local _, result = body:peek()
    return result
  end)
end

return { scope = scope }
