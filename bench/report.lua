--- Turns the samples bench/driver.lua collected into the terminal table
--- and bench/RESULTS.md: median and best (the least, or for a figure marked
--- `higher` the greatest) per implementation and figure, the
--- ratio of medians against the workload's reference implementation, and
--- DESIGN.md's targets marked pass or fail.
local sections = require "sections"

local M = {}

--- A workload's params for this run (see bench/workloads.lua).
function M.params(w, smoke)
  return (smoke and w.smoke_params) or w.params or {}
end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local k = #s
  if k == 0 then return nil end
  if k % 2 == 1 then return s[(k + 1) // 2] end
  return (s[k // 2] + s[k // 2 + 1]) / 2
end

-- The best of xs: the least, or the greatest when higher is better.
local function best(xs, higher)
  local m
  for _, x in ipairs(xs) do
    if not m or (higher and x > m) or (not higher and x < m) then m = x end
  end
  return m
end

--- A figure's value as text, by unit.
function M.fmt(v, unit)
  if type(v) ~= "number" then return "-" end
  if unit == "s" then return ("%.3f"):format(v) end
  if (unit == "ns" or unit == "us" or unit == "MiB") and v < 100 then return ("%.1f"):format(v) end
  return ("%.0f"):format(v)
end

local function fmt_ratio(r)
  if not r then return "-" end
  return (r < 10 and "%.2fx" or "%.1fx"):format(r)
end

-- stats[impl][key] = { median =, best =, runs = }
local function stats_of(ctx, w)
  local stats = {}
  for _, impl in ipairs(w.impls) do
    local s = ctx.samples[w.id][impl.name]
    stats[impl.name] = {}
    for _, f in ipairs(w.figures) do
      local xs = {}
      for _, r in ipairs(s.runs) do
        if type(r[f.key]) == "number" then xs[#xs + 1] = r[f.key] end
      end
      if #xs > 0 then stats[impl.name][f.key] = { median = median(xs), best = best(xs, f.higher), runs = #xs } end
    end
  end
  return stats
end

local function label_of(w, name)
  for _, impl in ipairs(w.impls) do
    if impl.name == name then return impl.label end
  end
  return name
end

local function ratio(stats, impl, key, ref)
  local a, b = stats[impl] and stats[impl][key], ref and stats[ref] and stats[ref][key]
  if a and b and b.median > 0 then return a.median / b.median end
end

-- -> verdict ("pass" | "FAIL" | "n/a"), measured text
local function judge(stats, t, unit)
  local v = stats[t.impl] and stats[t.impl][t.key]
  if not v then return "n/a", "no result" end
  if t.max_ratio or t.min_ratio then
    local r = ratio(stats, t.impl, t.key, t.ref)
    if not r then return "n/a", "no result for " .. t.ref end
    if t.min_ratio then return r >= t.min_ratio and "pass" or "FAIL", fmt_ratio(r) end
    return r <= t.max_ratio and "pass" or "FAIL", fmt_ratio(r)
  end
  return v.median <= t.max and "pass" or "FAIL", M.fmt(v.median, unit) .. " " .. unit
end

local function figure(w, key)
  for _, f in ipairs(w.figures) do
    if f.key == key then return f end
  end
end

local function title(w, ctx)
  local vars = { n = ctx.smoke and w.smoke_n or w.n }
  for k, v in pairs(M.params(w, ctx.smoke)) do vars[k] = v end
  return (w.title:gsub("{([%w_]+)}", function(k) return vars[k] and tostring(vars[k]) end))
end

-- The target as the terminal table shows it.
local function target_text(t, unit)
  if t.min_ratio then return (">= %sx %s"):format(t.min_ratio, t.ref) end
  if t.max_ratio then return ("<= %sx %s"):format(t.max_ratio, t.ref) end
  return ("<= %s %s"):format(t.max, unit)
end

--- The aligned terminal table, one row per implementation and figure.
function M.table(ctx)
  local rows = { { "workload", "implementation", "figure", "median", "best", "ratio", "vs", "target", "" } }
  for _, w in ipairs(ctx.workloads) do
    local stats = stats_of(ctx, w)
    for _, f in ipairs(w.figures) do
      for _, impl in ipairs(w.impls) do
        local s = ctx.samples[w.id][impl.name]
        local st = stats[impl.name][f.key]
        local target, verdict = "", ""
        for _, t in ipairs(w.targets) do
          if t.impl == impl.name and t.key == f.key then
            local v, measured = judge(stats, t, f.unit)
            target = target_text(t, f.unit)
            verdict = v .. ((t.max_ratio or t.min_ratio) and t.ref ~= f.ref and (" " .. measured) or "")
          end
        end
        if st then
          rows[#rows + 1] = { w.id, impl.label, f.label, M.fmt(st.median, f.unit), M.fmt(st.best, f.unit),
            fmt_ratio(ratio(stats, impl.name, f.key, f.ref)), f.ref or "", target, verdict }
        elseif s.skipped or #s.failures > 0 then
          if f == w.figures[1] then
            rows[#rows + 1] = { w.id, impl.label, f.label, s.skipped and "skipped" or "FAILED", "", "", "",
              target, verdict }
          end
        end
      end
    end
  end
  local widths = {}
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do widths[i] = math.max(widths[i] or 0, utf8.len(c) or #c) end
  end
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(r) do
      local pad = (" "):rep(widths[i] - (utf8.len(c) or #c))
      cells[i] = (i >= 4 and i <= 6) and (pad .. c) or (c .. pad) -- numbers right-aligned
    end
    out[#out + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
  end
  return table.concat(out, "\n") .. "\n"
end

local function md_escape(s) return (s:gsub("|", "\\|")) end

--- Writes the results file (bench/RESULTS.md for a full run).
function M.write_markdown(path, ctx)
  local L = {}
  local function add(...) L[#L + 1] = table.concat({ ... }) end

  add("# Benchmark results")
  add("")
  add("Written by `", ctx.command, "`; do not edit by hand. Each implementation ran ",
    ctx.reps == 1 and "once" or (tostring(ctx.reps) .. " times"),
    ", interleaved with the others (rotated order each round); figures are the median of the runs, ",
    "with the best in parentheses (the least; for rates, the greatest), and ratios are of medians. ",
    "The whole run took ",
    tostring(ctx.seconds), " s.", ctx.smoke and " **Smoke run: tiny N, figures mean nothing.**" or "")
  add("")
  add("## Machine")
  add("")
  add("| | |")
  add("| --- | --- |")
  for _, f in ipairs(ctx.machine) do add("| ", f[1], " | ", md_escape(f[2]), " |") end
  add("")

  add("## Targets (DESIGN.md, \"Figures the project is held to\")")
  add("")
  add("| workload | target | measured | |")
  add("| --- | --- | ---: | --- |")
  local all_stats = {}
  for _, w in ipairs(ctx.workloads) do
    all_stats[w.id] = stats_of(ctx, w)
    for _, t in ipairs(w.targets) do
      local f = figure(w, t.key)
      local verdict, measured = judge(all_stats[w.id], t, f.unit)
      local st = all_stats[w.id][t.impl] and all_stats[w.id][t.impl][t.key]
      local detail = st and (" (%s %s%s)"):format(M.fmt(st.median, f.unit), f.unit,
        t.ref and all_stats[w.id][t.ref] and all_stats[w.id][t.ref][t.key]
          and (" vs " .. M.fmt(all_stats[w.id][t.ref][t.key].median, f.unit) .. " " .. f.unit) or "") or ""
      if not (t.max_ratio or t.min_ratio) then detail = "" end
      add("| ", w.id, " | ", md_escape(t.text), " | ", measured, detail, " | ",
        verdict == "pass" and "✅ pass" or verdict == "FAIL" and "❌ fail" or "n/a", " |")
    end
  end
  add("")

  for _, w in ipairs(ctx.workloads) do
    local stats = all_stats[w.id]
    add("## ", w.id, ": ", title(w, ctx))
    add("")
    add("DESIGN.md, floor and best peer when the targets were set: ", w.design, ".")
    add("")
    local head, rule = { "implementation" }, { "---" }
    for _, f in ipairs(w.figures) do
      if f.ref then
        head[#head + 1] = "ratio vs " .. label_of(w, f.ref)
        rule[#rule + 1] = "---:"
      end
      head[#head + 1] = f.label .. (f.higher and " median (max)" or " median (min)")
      rule[#rule + 1] = "---:"
    end
    add("| ", table.concat(head, " | "), " |")
    add("| ", table.concat(rule, " | "), " |")
    for _, impl in ipairs(w.impls) do
      local s = ctx.samples[w.id][impl.name]
      local cells = { impl.tide and ("**" .. impl.label .. "**") or impl.label }
      for _, f in ipairs(w.figures) do
        local st = stats[impl.name][f.key]
        if f.ref then cells[#cells + 1] = fmt_ratio(ratio(stats, impl.name, f.key, f.ref)) end
        cells[#cells + 1] = st and ("%s (%s)"):format(M.fmt(st.median, f.unit), M.fmt(st.best, f.unit))
          or (s.skipped and "skipped" or #s.runs == 0 and "failed" or "-")
      end
      add("| ", table.concat(cells, " | "), " |")
    end
    add("")
    for _, f in ipairs(w.figures) do add("- ", f.label, ": ", f.about, ".") end
    for _, note in ipairs(w.notes or {}) do add("- ", note) end
    for _, impl in ipairs(w.impls) do
      local s = ctx.samples[w.id][impl.name]
      local n = s.n ~= (ctx.smoke and w.smoke_n or w.n) and (" (N = " .. s.n .. ")") or ""
      add("- ", impl.label, ": ", md_escape(impl.about), n, ".")
      if s.skipped then add("  Skipped: ", s.skipped, ".") end
      for i, why in ipairs(s.failures) do
        if i == 1 then add("  ", tostring(#s.failures), " of ", tostring(ctx.reps), " runs failed; first: `",
          (why:gsub("`", "'"):gsub("\n", " ")), "`") end
      end
    end
    add("")
  end

  add("## Method")
  add("")
  add("- Each program times only its workload, with its runtime's monotonic clock, from inside the process: ",
    "start-up and module loading are not counted. W1, W2 and W2b run a tenth of their loop untimed first ",
    "(the same warm-up for every runtime, which lets Node's JIT settle).")
  add("- A program reports the count of what it did (turns, awaits with the right values, hops, completions); ",
    "a run whose count is not N is a failure, not a figure.")
  add("- The ratio column divides medians. For times, CPU and memory a ratio below 1.00x is faster (or ",
    "smaller) than the reference; for rates (req/s, MiB/s) a ratio above 1.00x is faster.")
  add("- Memory: two figures in W3 (see its notes). The Lua heap figure is only for Lua runtimes; the RSS ",
    "figure is measured the same way for every runtime, C and Node included, and is the one to compare ",
    "across languages. W5's peak RSS is the whole client process's (VmHWM).")
  add("- HTTP (W4, W5): every program checks every response (status 200, the file's size in bytes); the ",
    "driver checks the count and the total of body bytes. CPU per request is the client process's user + ",
    "system time over the timed stretch / N.")
  if ctx.not_included and #ctx.not_included > 0 then
    add("- Peers not included:")
    for _, s in ipairs(ctx.not_included) do add("  - ", s) end
  end
  add("")

  -- What other commands wrote into the file (the soak test) stays; runs of
  -- some workloads alone (sections run-...) give way to a full run.
  for _, block in ipairs(sections.all(path)) do
    if not (ctx.full and block:match("^<!%-%- section run%-")) then
      add(block)
      add("")
    end
  end

  local f = assert(io.open(path, "w"))
  f:write(table.concat(L, "\n"))
  f:close()
end

return M
