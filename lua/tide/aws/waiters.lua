--- client:wait_until(waiter, params, {max_wait=, min_delay=, max_delay=,
--- signal=}): polls until a resource reaches a state, with the SDKs'
--- waiter backoff (exponential from min_delay, capped at max_delay,
--- jittered); rejects with a `timeout` error at max_wait.
-- @module tide.aws.waiters
local core = require "tide.core"
local check = require "tide.check"
local signal = require "tide.signal"
local client_mod = require "tide.aws.client"

local type, error, random, min, max = type, error, math.random, math.min, math.max

local M = {}

-- Each waiter: the operation it polls and `check(ok, value)` -> "success",
-- "failure" or nil (poll again); ok/value as tide.pawait gives them.
local waiters = {
  DynamoDB = {
    table_exists = {
      operation = "DescribeTable", min_delay = 20, max_delay = 120,
      check = function(ok, v)
        if ok then return v.Table and v.Table.TableStatus == "ACTIVE" and "success" or nil end
        if core.is_error(v, "aws") and v.code == "ResourceNotFoundException" then return nil end
        return "failure"
      end,
    },
    table_not_exists = {
      operation = "DescribeTable", min_delay = 20, max_delay = 120,
      check = function(ok, v)
        if not ok then
          if core.is_error(v, "aws") and v.code == "ResourceNotFoundException" then return "success" end
          return "failure"
        end
      end,
    },
  },
}
M.waiters = waiters

local known = { max_wait = true, min_delay = true, max_delay = true, signal = true }

-- The SDKs' waiter delay before attempt `attempt + 1`.
local function delay(attempt, min_delay, max_delay)
  local cap = min(max_delay, min_delay * 2 ^ (attempt - 1))
  return min_delay + random() * max(0, cap - min_delay)
end

--- @param self tide.aws.client
--- @param name string  "table_exists", "table_not_exists"
--- @param params table
--- @param opts {max_wait: number, min_delay: number, max_delay: number, signal: tide.signal}|nil
--- @return tide.promise  of {state="success", attempts=, response=} (the last output)
function M.wait_until(self, name, params, opts)
  client_mod.check_client(self, "wait_until", 2)
  local set = waiters[self.service] or {}
  local w = type(name) == "string" and set[name]
  if not w then
    local names = {}
    for k in pairs(set) do names[#names + 1] = k end
    table.sort(names)
    error(("bad argument #1 to 'wait_until' (%s waiter expected: %s; got %s)"):format(self.service,
      #names > 0 and table.concat(names, ", ") or "this service has none", tostring(name)), 2)
  end
  if params ~= nil and type(params) ~= "table" then
    error(("bad argument #2 to 'wait_until' (params table expected, got %s)"):format(type(params)), 2)
  end
  local sig, rejected = signal.options(opts, "tide.aws.client:wait_until", 3, known)
  opts = opts or {}
  for _, k in ipairs { "max_wait", "min_delay", "max_delay" } do
    if opts[k] ~= nil then check.seconds(opts[k], 3, "wait_until") end
  end
  if rejected then return rejected end
  local max_wait = opts.max_wait or 300
  local min_delay = opts.min_delay or w.min_delay
  local max_delay = max(min_delay, opts.max_delay or w.max_delay)
  local task = core.spawn(function()
    local deadline = core.now() + max_wait
    local attempt = 0
    while true do
      attempt = attempt + 1
      local left = deadline - core.now()
      local ok, v = core.pawait(client_mod.send(self, w.operation, params or {},
        { timeout = max(left, 0.001) }, "wait_until", 1))
      local state = w.check(ok, v)
      if state == "success" then
        return { state = "success", attempts = attempt, response = ok and v or nil }
      elseif state == "failure" then
        error(v, 0)
      end
      local d = delay(attempt, min_delay, max_delay)
      left = deadline - core.now()
      if left <= 0 or d >= left then
        if left > 0 then core.sleep(left):await() end
        error(core.error("timeout", ("wait_until %s: timed out after %g s (%d attempts)"):format(name, max_wait,
          attempt), { seconds = max_wait, attempts = attempt, cause = not ok and v or nil }), 0)
      end
      core.sleep(d):await()
    end
  end)
  if sig then signal.link(sig, task) end
  return task
end

return M
