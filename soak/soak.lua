--- Soak: a million promises, then 100,000 HTTP requests against a local
--- nginx, then every line of a 1 GiB file through tide.fs.lines, then that
--- file copied through tide.pipe, with the process's RSS sampled as it goes. After a warm-up (the first fifth of
--- each phase), RSS must grow by less than 5%: nothing accumulates per
--- promise, per request or per line, and a file is read in bounded memory.
---
---   lua5.4 soak/soak.lua [--results FILE] BASE_URL [promises] [requests] [file MiB]
--- (see scripts/soak). Prints the samples and one "SOAK ..." line per phase,
--- and with --results puts them in FILE's "soak" section (bench/RESULTS.md,
--- beside the benchmarks); exits 1 on growth.
local tide = require "tide"

local args = { ... }
local results_file
if args[1] == "--results" then
  results_file = assert(args[2], "--results needs a file")
  table.remove(args, 1)
  table.remove(args, 1)
end
local base = assert(args[1], "usage: soak.lua [--results FILE] BASE_URL [promises] [requests] [file MiB]")
local n_promises = tonumber(args[2]) or 1000000
local n_requests = tonumber(args[3]) or 100000
local file_mib = tonumber(args[4]) or 1024
local SAMPLES = 20
local LIMIT_PCT = 5
local rows = {}

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local kib = tonumber(f:read("a"):match("VmRSS:%s+(%d+) kB"))
  f:close()
  return kib
end

-- Growth after warm-up of `samples` (RSS in KiB), in percent; prints and
-- records the phase.
local function record(name, total, seconds, samples)
  local warm = samples[SAMPLES // 5]
  local peak = warm
  for s = SAMPLES // 5, SAMPLES do peak = math.max(peak, samples[s]) end
  local growth = (peak - warm) * 100 / warm
  print(("SOAK phase=%s n=%d seconds=%.1f rss_after_warmup_kib=%d rss_peak_kib=%d growth_pct=%.2f"):format(
    name, total, seconds, warm, peak, growth))
  rows[#rows + 1] = { name = name, n = total, seconds = seconds, warm = warm, peak = peak, growth = growth,
    first = samples[1], last = samples[SAMPLES] }
  return growth
end

-- Runs `total` steps of `step(i)` in `SAMPLES` slices, sampling RSS after
-- each; returns the growth after warm-up, in percent.
local function phase(name, total, step)
  local samples, per = {}, total // SAMPLES
  local t0 = tide.now()
  for s = 1, SAMPLES do
    step((s - 1) * per + 1, s * per)
    collectgarbage()
    samples[s] = rss_kib()
    io.write(("%s %3d%%  %6d KiB RSS\n"):format(name, s * 100 // SAMPLES, samples[s]))
  end
  return record(name, total, tide.now() - t0, samples)
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

  -- Phase 3: the lines of a large file (64-byte lines, each checked), one
  -- stream read across all slices.
  local LINE = ("%063d"):format(0) -- 63 digits; with its "\n", 64 bytes
  local path = os.tmpname()
  do
    local block = (LINE .. "\n"):rep(16384) -- 1 MiB
    local f = assert(io.open(path, "wb"))
    for _ = 1, file_mib do assert(f:write(block)) end
    assert(f:close())
  end
  local n_lines = file_mib * 16384
  local lines <close> = tide.fs.lines(path)
  local ok_lines = 0
  local g3 = phase("file lines", n_lines, function(first, last)
    for _ = first, last do
      if lines:pull() == LINE then ok_lines = ok_lines + 1 end
    end
  end)
  -- The slices cover all but the remainder of n_lines / SAMPLES.
  for line in lines do
    if line == LINE then ok_lines = ok_lines + 1 end
  end
  assert(ok_lines == n_lines, ("read %d good lines of %d"):format(ok_lines, n_lines))

  -- Phase 4: the same file copied through tide.pipe (by paths: the pipe
  -- opens and closes both), RSS sampled from on_progress each time another
  -- 1/SAMPLES of the bytes has moved.
  local copy = os.tmpname()
  local total = file_mib * 1024 * 1024
  local samples, next_mark, t0 = {}, total // SAMPLES, tide.now()
  local moved = tide.pipe(path, copy, { on_progress = function(bytes)
    if bytes >= next_mark and #samples < SAMPLES then
      next_mark = next_mark + total // SAMPLES
      collectgarbage()
      samples[#samples + 1] = rss_kib()
      io.write(("pipe %3d%%  %6d KiB RSS\n"):format(#samples * 100 // SAMPLES, samples[#samples]))
    end
  end }):await()
  assert(moved == total, ("piped %d bytes of %d"):format(moved, total))
  local g4 = record("pipe", total, tide.now() - t0, samples)
  os.remove(copy)
  os.remove(path)
  failed = g1 >= LIMIT_PCT or g2 >= LIMIT_PCT or g3 >= LIMIT_PCT or g4 >= LIMIT_PCT
end)

if results_file then
  package.path = "bench/?.lua;" .. package.path
  local md = {
    "## Soak",
    "",
    ("Written by `scripts/soak` on %s. Each phase runs in %d slices with a full collection and an RSS " ..
      "sample after each; growth is the peak after warm-up (the first fifth) over the RSS at the end of " ..
      "warm-up, and must stay under %d%%."):format(os.date("!%Y-%m-%d %H:%M UTC"), SAMPLES, LIMIT_PCT),
    "",
    "| phase | N | seconds | RSS first slice KiB | RSS after warm-up KiB | peak after KiB | growth | |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  }
  for _, r in ipairs(rows) do
    md[#md + 1] = ("| %s | %d | %.1f | %d | %d | %d | %+.2f%% | %s |"):format(r.name, r.n, r.seconds, r.first,
      r.warm, r.peak, r.growth, r.growth < LIMIT_PCT and "✅ pass" or "❌ fail")
  end
  md[#md + 1] = ""
  md[#md + 1] = "- promises: deferred + next + tide.all in batches of 1,000, and a task that awaits per batch."
  md[#md + 1] = "- http: GET /api/fast of scripts/local-api's nginx, 64 tasks in flight through one client."
  md[#md + 1] = ("- file lines: every line of a %d MiB file of 64-byte lines through one `tide.fs.lines` stream, " ..
    "each compared; RSS stays flat, so the file is read in bounded memory."):format(file_mib)
  md[#md + 1] = ("- pipe: that %d MiB file copied to another through `tide.pipe` by paths (N is bytes), RSS " ..
    "sampled from `on_progress` at each twentieth of the bytes."):format(file_mib)
  require("sections").replace(results_file, "soak", table.concat(md, "\n"))
end

if failed then
  print("SOAK FAILED: RSS grew by 5% or more after warm-up")
  os.exit(1)
end
print("SOAK OK")
