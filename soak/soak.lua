--- Soak: a million promises, then 100,000 HTTP requests against a local
--- nginx, with the process's RSS sampled as it goes. After a warm-up (the
--- first fifth of each phase), RSS must grow by less than 5%: nothing
--- accumulates per promise or per request.
---
---   lua5.4 soak/soak.lua BASE_URL [promises] [requests]   (see scripts/soak)
--- Prints the samples and one "SOAK ..." line per phase; exits 1 on growth.
local tide = require "tide"

local base = assert(arg[1], "usage: soak.lua BASE_URL [promises] [requests]")
local n_promises = tonumber(arg[2]) or 1000000
local n_requests = tonumber(arg[3]) or 100000
local SAMPLES = 20

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local kib = tonumber(f:read("a"):match("VmRSS:%s+(%d+) kB"))
  f:close()
  return kib
end

-- Runs `total` steps of `step(i)` in `SAMPLES` slices, sampling RSS after
-- each; returns the samples and the growth after warm-up, in percent.
local function phase(name, total, step)
  local samples, per = {}, total // SAMPLES
  local t0 = tide.now()
  for s = 1, SAMPLES do
    step((s - 1) * per + 1, s * per)
    collectgarbage()
    samples[s] = rss_kib()
    io.write(("%s %3d%%  %6d KiB RSS\n"):format(name, s * 100 // SAMPLES, samples[s]))
  end
  local warm = samples[SAMPLES // 5]
  local peak = warm
  for s = SAMPLES // 5, SAMPLES do peak = math.max(peak, samples[s]) end
  local growth = (peak - warm) * 100 / warm
  print(("SOAK phase=%s n=%d seconds=%.1f rss_after_warmup_kib=%d rss_peak_kib=%d growth_pct=%.2f"):format(
    name, total, tide.now() - t0, warm, peak, growth))
  return growth
end

local failed = false
tide.run(function()
  -- Phase 1: promises, through every path a program uses: deferred and
  -- resolve, next chains, all, tasks that await.
  local g1 = phase("promises", n_promises, function(first, last)
    local batch = {}
    for i = first, last do
      local p, resolve = tide.deferred()
      local q = p:next(function(v) return v + 1 end)
      resolve(i)
      batch[#batch + 1] = q
      if #batch == 1000 then
        tide.all(batch):await()
        batch = {}
        tide.spawn(function() return tide.resolve(i):await() end):await()
      end
    end
    if #batch > 0 then tide.all(batch):await() end
  end)

  -- Phase 2: HTTP requests, 64 in flight, through one client.
  local client <close> = tide.http.client { base_url = base, timeout = 10 }
  local g2 = phase("http", n_requests, function(first, last)
    local next_i, errors = first, 0
    local workers = {}
    for w = 1, 64 do
      workers[w] = tide.spawn(function()
        while next_i <= last do
          next_i = next_i + 1
          local res = client:get("/api/fast"):await()
          if res.status ~= 200 then errors = errors + 1 end
        end
      end)
    end
    tide.all(workers):await()
    assert(errors == 0, errors .. " requests failed")
  end)
  failed = g1 >= 5 or g2 >= 5
end)
if failed then
  print("SOAK FAILED: RSS grew by 5% or more after warm-up")
  os.exit(1)
end
print("SOAK OK")
