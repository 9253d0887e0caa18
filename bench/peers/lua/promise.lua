--- A small pure-Lua promise library, written for the benchmarks as the
--- honest "do it in Lua" reference: Promises/A+ semantics (callbacks run
--- from a microtask queue, in registration order, at most once; returned
--- values and promises are adopted; a raised error rejects), plus coroutine
--- tasks whose `await` suspends until a microtask resumes them (as JS await
--- does, even for a settled promise). No event loop: `run` drains microtasks.
--- Await registers a reaction record that resumes the coroutine directly,
--- without a derived promise or closures (what V8 does for await, too).
local M = {}

local Promise = {}
Promise.__index = Promise
local PENDING, FULFILLED, REJECTED = 0, 1, 2
local setmetatable, getmetatable, pcall, type = setmetatable, getmetatable, pcall, type
local resume, yield, running = coroutine.resume, coroutine.yield, coroutine.running

-- The microtask queue: a FIFO of (promise, reaction) pairs in two arrays.
local qp, qr, head, tail = {}, {}, 1, 0

local function new() return setmetatable({ state = PENDING }, Promise) end

local function schedule(p, r)
  tail = tail + 1
  qp[tail], qr[tail] = p, r
end

local function settle(p, state, value)
  if p.state ~= PENDING then return end
  p.state, p.value = state, value
  local rs = p.reactions
  if rs then
    p.reactions = nil
    for i = 1, #rs do schedule(p, rs[i]) end
  end
end

local resolve -- the A+ resolution procedure, below

-- A thenable: a table with a metatable whose `next` is callable (A+ 2.3.3).
local function thenable_next(x)
  if type(x) ~= "table" or getmetatable(x) == nil then return nil end
  local ok, f = pcall(function() return x.next end)
  if not ok then return nil, f end
  if type(f) == "function" then return f end
end

function resolve(p, x)
  if x == p then return settle(p, REJECTED, "TypeError: a promise resolved with itself") end
  local f, err = thenable_next(x)
  if err ~= nil then return settle(p, REJECTED, err) end
  if not f then return settle(p, FULFILLED, x) end
  local called = false -- first call wins, later ones are ignored
  local ok, e = pcall(f, x,
    function(v) if not called then called = true; resolve(p, v) end end,
    function(r) if not called then called = true; settle(p, REJECTED, r) end end)
  if not ok and not called then called = true; settle(p, REJECTED, e) end
end

local function run_reaction(p, r)
  local co = r.co
  if co then -- an await: resume the task with the outcome
    local ok, e = resume(co, p.state == FULFILLED, p.value)
    if not ok then error(e, 0) end
    return
  end
  local handler = p.state == FULFILLED and r.on_ok or r.on_err
  if type(handler) ~= "function" then -- pass the outcome through
    return settle(r.child, p.state, p.value)
  end
  local ok, v = pcall(handler, p.value)
  if ok then resolve(r.child, v) else settle(r.child, REJECTED, v) end
end

local function add_reaction(p, r)
  if p.state ~= PENDING then return schedule(p, r) end
  local rs = p.reactions
  if rs then rs[#rs + 1] = r else p.reactions = { r } end
end

--- Promises/A+ `then`.
function Promise:next(on_ok, on_err)
  local child = new()
  add_reaction(self, { on_ok = on_ok, on_err = on_err, child = child })
  return child
end

--- Runs queued microtasks until none is left.
function M.drain()
  while head <= tail do
    local p, r = qp[head], qr[head]
    qp[head], qr[head] = nil, nil
    head = head + 1
    run_reaction(p, r)
  end
  head, tail = 1, 0
end

function M.resolve(v)
  if getmetatable(v) == Promise then return v end
  local p = new()
  resolve(p, v)
  return p
end

--- -> promise, resolve, reject
function M.deferred()
  local p = new()
  return p, function(v) resolve(p, v) end, function(e) settle(p, REJECTED, e) end
end

--- Suspends the running task until `p` settles; returns its value or raises.
function M.await(p)
  if getmetatable(p) ~= Promise then p = M.resolve(p) end
  add_reaction(p, { co = (running()) })
  local ok, v = yield()
  if ok then return v end
  error(v, 0)
end

--- Runs fn(...) as a task (synchronously up to its first await) -> promise.
function M.spawn(fn, ...)
  local p = new()
  local co = coroutine.create(function(...)
    local ok, v = pcall(fn, ...)
    settle(p, ok and FULFILLED or REJECTED, v)
  end)
  local ok, e = resume(co, ...)
  if not ok then error(e, 0) end
  return p
end

--- Runs fn as the main task, drains microtasks, returns its value or raises.
function M.run(fn, ...)
  local p = M.spawn(fn, ...)
  M.drain()
  if p.state == FULFILLED then return p.value end
  if p.state == REJECTED then error(p.value, 0) end
  error("deadlock: the main task is still pending and no microtask is left", 2)
end

return M
