--- tide.map: apply an async function to every item of a list, with at most
--- `concurrency` calls running at once.
-- @module tide.map
local scope = require("tide.scope").scope
local check = require "tide.check"

local type, error, min = type, error, math.min

local known = { concurrency = true, signal = true }

--- Calls `fn(item, index)` for each item (each in its own task, `fn` may
--- await), at most `opts.concurrency` at a time (default: all at once).
--- The promise fulfils with the results in input order (with `.n`); the
--- first error cancels the calls still running and rejects it.
--- @param list table
--- @param fn fun(item: any, index: integer): any
--- @param opts {concurrency: integer, signal: tide.signal}|nil
--- @return tide.promise
local function map(list, fn, opts)
  if type(list) ~= "table" then
    error(("bad argument #1 to 'map' (table expected, got %s)"):format(type(list)), 2)
  end
  check.callable(fn, 2, "map")
  opts = check.options(opts, known, "tide.map", 3) or {}
  local n = check.length(list, 1, "map")
  local limit = opts.concurrency or n
  if math.type(limit) ~= "integer" or (limit < 1 and n > 0) then
    error("bad option 'concurrency' to 'map' (positive integer expected)", 2)
  end
  return scope(function(s)
    local results, next_index = { n = n }, 0
    local function worker()
      while next_index < n do
        next_index = next_index + 1
        local i = next_index
        results[i] = fn(list[i], i)
      end
    end
    for _ = 1, min(limit, n) do s:spawn(worker) end
    return results
  end, opts.signal and { signal = opts.signal })
end

return { map = map }
