--- Runs the benchmarks listed in bench/workloads.lua: every implementation
--- of every selected workload, several repetitions interleaved (one round of
--- all implementations, then the next, each round in a rotated order) so
--- that a noisy stretch of the machine does not land on one runtime. Then
--- hands the samples to bench/report.lua. Started by bench/run from the
--- repository root, with the build and the packages in place:
---   lua5.4 bench/driver.lua [--smoke] [--reps N] [--impls a,b] [W1 W2 ...]
--- --impls runs only the named implementations (as in workloads.lua, e.g.
--- `--impls c-poll,tide-stream W5`): a quick comparison while working on
--- one figure, written to bench/out/ only.
--- Exits 1 if a tide benchmark failed or gave a wrong count.
package.path = "./bench/?.lua;" .. package.path
local registry = require "workloads"
local report = require "report"
local machine = require "machine"
local sections = require "sections"

local function usage(msg)
  io.stderr:write("bench/run: ", msg, "\nusage: bench/run [--smoke] [--reps N] [--impls a,b] [WORKLOAD ...]\n")
  os.exit(2)
end

-- Command line.
local opts = { smoke = false, reps = nil, only = {}, impls = nil }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--smoke" then
      opts.smoke = true
    elseif a == "--reps" then
      i = i + 1
      opts.reps = math.tointeger(tonumber(arg[i] or "")) or usage("--reps takes a number")
    elseif a == "--impls" then
      i = i + 1
      opts.impls = {}
      for name in (arg[i] or ""):gmatch("[^,%s]+") do opts.impls[name] = false end
      if next(opts.impls) == nil then usage("--impls takes a list of names, a,b") end
    elseif a:sub(1, 1) == "-" then
      usage("unknown option " .. a)
    else
      opts.only[#opts.only + 1] = a:upper()
    end
    i = i + 1
  end
end
local reps = opts.reps or (opts.smoke and 1 or 7)
if reps < 1 then usage("--reps takes a number >= 1") end
local timeout = opts.smoke and 60 or 180 -- seconds for one program: a hang is a failure

local selected = {}
if #opts.only == 0 then
  selected = registry.workloads
else
  for _, id in ipairs(opts.only) do
    local found
    for _, w in ipairs(registry.workloads) do
      if w.id:upper() == id then found = w end
    end
    if not found then usage("unknown workload " .. id) end
    selected[#selected + 1] = found
  end
end

-- Only the implementations asked for (each must exist in some workload).
if opts.impls then
  local kept = {}
  for i, w in ipairs(selected) do
    local impls = {}
    for _, impl in ipairs(w.impls) do
      if opts.impls[impl.name] ~= nil then
        impls[#impls + 1] = impl
        opts.impls[impl.name] = true
      end
    end
    local copy = { impls = impls }
    for k, v in pairs(w) do
      if k ~= "impls" then copy[k] = v end
    end
    kept[i] = copy
  end
  for name, found in pairs(opts.impls) do
    if not found then usage("no implementation " .. name .. " in the workloads asked for") end
  end
  selected = kept
end

local function shell_quote(s)
  if s:match("^[%w%./_=,:+-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function command_line(argv)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = shell_quote(a) end
  return table.concat(parts, " ")
end

-- Which runtimes are here (a missing one skips its peers, with a note).
local have = {}
for name, probe in pairs(registry.runtimes) do
  have[name] = os.execute(command_line(probe) .. " >/dev/null 2>&1") == true
end

local STDERR = "bench/out/stderr.txt"

-- The HTTP workloads' server, started by bench/run.
local http_base = os.getenv("BENCH_HTTP")

-- The values of {name} in a command line: N, the workload and its params.
local function vars_of(w, n)
  local vars = { n = tostring(n), id = w.id }
  for k, v in pairs(report.params(w, opts.smoke)) do vars[k] = tostring(v) end
  if vars.file then vars.url = http_base and (http_base .. "/" .. vars.file) end
  return vars
end

-- Runs one program; returns its RESULT fields, or nil and why not.
local function run_one(w, impl, n)
  local vars, missing = vars_of(w, n), nil
  local argv = {}
  for i, a in ipairs(impl.cmd) do
    argv[i] = a:gsub("{([%w_]+)}", function(k)
      if vars[k] == nil then missing = missing or k end
      return vars[k]
    end)
  end
  if missing then
    return nil, missing == "url" and "no HTTP server (BENCH_HTTP is unset: run it through bench/run)"
      or ("nothing to put in {%s}"):format(missing), command_line(argv)
  end
  local cmd = ("timeout -k 5 %d %s 2>%s"):format(timeout, command_line(argv), STDERR)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  local fields
  for line in out:gmatch("[^\n]+") do
    if line:match("^RESULT ") then
      fields = {}
      for k, v in line:gmatch("(%S+)=(%S+)") do fields[k] = tonumber(v) or v end
    end
  end
  local why
  if not ok then
    why = how == "exit" and code == 124 and ("timed out after %d s"):format(timeout)
      or ("exited with %s %s"):format(how, tostring(code))
  elseif not fields then
    why = "printed no RESULT line"
  elseif fields.workload ~= w.id or fields.impl ~= impl.name then
    why = ("RESULT is for %s/%s"):format(tostring(fields.workload), tostring(fields.impl))
  elseif fields.count ~= n then
    why = ("wrong count: %s of %d"):format(tostring(fields.count), n)
  elseif vars.size and fields.bytes ~= n * tonumber(vars.size) then
    why = ("wrong byte count: %s, not %d x %s"):format(tostring(fields.bytes), n, vars.size)
  else
    for _, f in ipairs(w.figures) do
      -- heap_B is for Lua runtimes only; other figures are for everyone.
      if fields[f.key] == nil and f.key ~= "heap_B" then why = "no " .. f.key .. " in its RESULT line" end
    end
  end
  if why then
    local f = io.open(STDERR, "r")
    local err = f and f:read("a") or ""
    if f then f:close() end
    err = err:gsub("%s+$", "")
    if #err > 600 then err = "..." .. err:sub(-600) end
    return nil, why .. (err ~= "" and (": " .. err) or ""), command_line(argv)
  end
  return fields
end

local function impl_n(w, impl)
  local n = opts.smoke and w.smoke_n or w.n
  if impl.scale then n = math.floor(n * impl.scale) end
  if w.even then n = n - n % 2 end
  return n
end

-- samples[w.id][impl.name] = { n =, runs = { fields... }, failures = { why... }, skipped = why }
local samples = {}
for _, w in ipairs(selected) do
  samples[w.id] = {}
  for _, impl in ipairs(w.impls) do
    local s = { n = impl_n(w, impl), runs = {}, failures = {} }
    if impl.needs and not have[impl.needs] then s.skipped = impl.needs .. " is not installed" end
    samples[w.id][impl.name] = s
  end
end

local t_start = os.time()
for rep = 1, reps do
  for _, w in ipairs(selected) do
    local progress = {}
    local k = #w.impls
    for j = 0, k - 1 do
      local impl = w.impls[(j + rep - 1) % k + 1] -- rotated each round
      local s = samples[w.id][impl.name]
      if not s.skipped then
        local fields, why, cmd = run_one(w, impl, s.n)
        if fields then
          s.runs[#s.runs + 1] = fields
          local f = w.figures[1]
          progress[#progress + 1] = ("%s %s"):format(impl.name, report.fmt(fields[f.key], f.unit))
        else
          s.failures[#s.failures + 1] = why
          progress[#progress + 1] = impl.name .. " FAILED"
          io.stderr:write(("  %s %s failed (%s): %s\n"):format(w.id, impl.name, cmd, why))
        end
      end
    end
    io.stderr:write(("[%d/%d] %-4s %s\n"):format(rep, reps, w.id, table.concat(progress, "  ")))
  end
end

local ctx = {
  workloads = selected,
  samples = samples,
  reps = reps,
  smoke = opts.smoke,
  seconds = os.time() - t_start,
  command = "bench/run" .. (#arg > 0 and (" " .. table.concat(arg, " ")) or ""),
  machine = machine.facts(),
  not_included = registry.not_included,
}
io.write(report.table(ctx))
-- Only a full run of every workload replaces bench/RESULTS.md.
local path = "bench/RESULTS.md"
if opts.smoke then
  path = "bench/out/RESULTS-smoke.md"
elseif opts.impls then
  path = "bench/out/RESULTS-impls.md"
elseif #opts.only > 0 then
  path = "bench/out/RESULTS-" .. table.concat(opts.only, "-") .. ".md"
end
ctx.full = path == "bench/RESULTS.md"
report.write_markdown(path, ctx)
io.stderr:write("wrote ", path, "\n")
-- A run of some workloads also goes into bench/RESULTS.md, as its own
-- section (until a full run replaces them all).
if not opts.smoke and not opts.impls and #opts.only > 0 then
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  local name = "run-" .. table.concat(opts.only, "-")
  text = text:gsub("^# Benchmark results\n", ("# Run of %s alone\n"):format(table.concat(opts.only, ", ")))
  sections.replace("bench/RESULTS.md", name, (text:gsub("\n#", "\n##"):gsub("^#", "##")))
  io.stderr:write("and put it in bench/RESULTS.md (section ", name, ")\n")
end

-- A tide benchmark that failed or miscounted fails the run.
local bad = {}
for _, w in ipairs(selected) do
  for _, impl in ipairs(w.impls) do
    local s = samples[w.id][impl.name]
    if impl.tide and (#s.failures > 0 or #s.runs == 0) then
      bad[#bad + 1] = ("%s %s: %s"):format(w.id, impl.name, s.failures[1] or "no run")
    end
  end
end
if #bad > 0 then
  io.stderr:write("tide benchmark failures:\n  ", table.concat(bad, "\n  "), "\n")
  os.exit(1)
end
