-- Controlled concurrency (the "processWithLimit" pattern): ten jobs of
-- 50 ms, at most three in flight at any moment, done two ways:
--   1. tide.map(list, fn, {concurrency = 3}) -- results in input order;
--   2. tide.semaphore(3) with sem:with(fn), started for every job at once
--      and gathered with tide.all.
-- Each prints the peak number of jobs in flight (never above the limit)
-- and the time: ten jobs / 3 at a time = 4 rounds, about 200 ms.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/concurrency_limit.lua
-- or, after `luarocks make`: lua5.4 examples/concurrency_limit.lua
local tide = require "tide"

local LIMIT = 3
local in_flight, peak = 0, 0

local function process(job) -- the work: counts how many run at once
  in_flight = in_flight + 1
  peak = math.max(peak, in_flight)
  tide.sleep(0.05):await()
  in_flight = in_flight - 1
  return job * job
end

local jobs = {}
for i = 1, 10 do jobs[i] = i end

tide.run(function()
  local t0 = tide.now()
  local squares = tide.map(jobs, process, { concurrency = LIMIT }):await()
  print(("map:       %s"):format(table.concat(squares, " ", 1, squares.n)))
  print(("map:       peak in flight %d (limit %d), %.0f ms"):format(peak, LIMIT, (tide.now() - t0) * 1000))

  in_flight, peak = 0, 0
  t0 = tide.now()
  local sem = tide.semaphore(LIMIT)
  local tasks = {}
  for i, job in ipairs(jobs) do
    -- sem:with(fn): acquire a permit (waiting if none is free), run fn, release.
    tasks[i] = sem:with(function() return process(job) end)
  end
  squares = tide.all(tasks):await()
  print(("semaphore: %s"):format(table.concat(squares, " ", 1, squares.n)))
  print(("semaphore: peak in flight %d (limit %d), %.0f ms"):format(peak, LIMIT, (tide.now() - t0) * 1000))
end)
