--- The benchmark registry: every workload, the implementations that run it,
--- the figures they report and the targets from DESIGN.md ("Figures the
--- project is held to"). bench/driver.lua runs what is listed here; adding a
--- workload (W4, W5, ...) means adding an entry below and its programs.
---
--- A workload:
---   id, title        short name and what is measured ({n} = the N used)
---   n, smoke_n       N for a full run and for `bench/run --smoke`
---   even             N must be even (the ping-pong splits it in two)
---   design           DESIGN.md's "floor and best peer today", for context
---   figures          what each program reports: key (in its RESULT line),
---                    label, unit, ref (the implementation ratios are
---                    against; none for an absolute figure), about
---   targets          DESIGN.md's targets: impl, key, and either
---                    max_ratio against ref or max (absolute), text
---   impls            name (as in the RESULT line), label, cmd ({n} is
---                    replaced), needs (a runtime below; tide needs none),
---                    tide = true for tide's own (a failure fails the run),
---                    scale (fraction of N, for slow peers), about
---
--- Every program prints one line:
---   RESULT workload=<id> impl=<name> n=<N> count=<done> <key>=<value>...
--- and count must equal N.

local function lua(script) return { "lua5.4", script, "{n}" } end
local function node(script, variant) return { "node", script, "{n}", variant } end
local function python(script, loop) return { "/usr/bin/python3", script, "{n}", loop } end

--- Runtimes a peer may need; each is probed once with this command.
local runtimes = {
  c = { "test", "-x", "bench/out/w1_idle" },
  luv = { "lua5.4", "-e", "require 'luv'" },
  cqueues = { "lua5.4", "-e", "require 'cqueues'" },
  node = { "node", "--version" },
  python = { "/usr/bin/python3", "-c", "import asyncio" },
  uvloop = { "/usr/bin/python3", "-c", "import uvloop" },
}

local workloads = {
  {
    id = "W1",
    title = "`tide.sleep(0)` awaited {n} times in one task (a real loop turn each)",
    n = 200000,
    smoke_n = 2000,
    design = "plain C libuv idle turn 262 ns; best peers cqueues / luv glue 2.8x C; Node 5.5x",
    figures = {
      { key = "ns", label = "ns/turn", unit = "ns", ref = "c", about = "wall time of the N turns / N" },
    },
    targets = {
      { impl = "tide", key = "ns", ref = "c", max_ratio = 1.5, text = "<= 1.5x the C turn" },
    },
    impls = {
      { name = "c", label = "C libuv (floor)", needs = "c", cmd = { "bench/out/w1_idle", "{n}" },
        about = "uv_run(DEFAULT) with an idle handle whose callback counts turns" },
      { name = "tide", label = "tide", tide = true, cmd = lua("bench/tide/w1_sleep0.lua"),
        about = "`tide.sleep(0):await()` in a loop inside `tide.run`" },
      { name = "luv", label = "luv + coroutine glue", needs = "luv", cmd = lua("bench/peers/luv/w1.lua"),
        about = "a coroutine starts an idle handle and yields; the idle callback stops it and resumes" },
      { name = "cqueues", label = "cqueues", needs = "cqueues", cmd = lua("bench/peers/cqueues/w1.lua"),
        about = "`cqueues.sleep(0)` in a `cq:wrap` coroutine" },
      { name = "node", label = "Node", needs = "node", cmd = node("bench/peers/node/w1.js"),
        about = "`await new Promise(r => setImmediate(r))`" },
      { name = "python-asyncio", label = "Python asyncio", needs = "python",
        cmd = python("bench/peers/python/w1.py", "asyncio"), about = "`await asyncio.sleep(0)`" },
      { name = "python-uvloop", label = "Python uvloop", needs = "uvloop",
        cmd = python("bench/peers/python/w1.py", "uvloop"), about = "the same on uvloop (libuv)" },
    },
  },
  {
    id = "W2",
    title = "create + resolve + await, {n} times in one task",
    n = 1000000,
    smoke_n = 20000,
    design = "Node 122 ns; bare Lua coroutine switch 120 ns; pure-Lua promise 614 ns; cqueues.promise 839 ns",
    figures = {
      { key = "ns", label = "ns/op", unit = "ns", ref = "node-resolve", about = "wall time of the N rounds / N" },
    },
    targets = {
      { impl = "tide-resolve", key = "ns", ref = "node-resolve", max_ratio = 1.0,
        text = "<= Node (`await Promise.resolve(i)`)" },
      { impl = "tide-deferred", key = "ns", ref = "node-deferred", max_ratio = 1.0,
        text = "<= Node (new Promise + resolver)" },
    },
    impls = {
      { name = "node-resolve", label = "Node Promise.resolve", needs = "node",
        cmd = node("bench/peers/node/w2.js", "resolve"), about = "`sum += await Promise.resolve(i)`" },
      { name = "node-deferred", label = "Node new Promise", needs = "node",
        cmd = node("bench/peers/node/w2.js", "deferred"),
        about = "`p = new Promise(r => res = r); res(i); sum += await p`" },
      { name = "tide-resolve", label = "tide resolve", tide = true,
        cmd = { "lua5.4", "bench/tide/w2_resolve.lua", "{n}", "resolve" },
        about = "`sum = sum + tide.resolve(i):await()`" },
      { name = "tide-deferred", label = "tide deferred", tide = true,
        cmd = { "lua5.4", "bench/tide/w2_resolve.lua", "{n}", "deferred" },
        about = "`p, res = tide.deferred(); res(i); sum = sum + p:await()`" },
      { name = "lua-coroutine", label = "bare Lua coroutine switch",
        cmd = lua("bench/peers/lua/coroutine_w2.lua"),
        about = "resume + yield of a plain coroutine passing a value (no promise; a reference point)" },
      { name = "lua-promise", label = "pure-Lua promise",
        cmd = lua("bench/peers/lua/promise_w2.lua"),
        about = "bench/peers/lua/promise.lua: A+ promise, microtask queue, await always suspends" },
      { name = "cqueues-promise", label = "cqueues.promise", needs = "cqueues",
        cmd = lua("bench/peers/cqueues/w2.lua"), about = "`p = promise.new(); p:set(true, i); p:get()`" },
      { name = "python-asyncio", label = "Python asyncio future", needs = "python",
        cmd = python("bench/peers/python/w2.py", "asyncio"),
        about = "`f = loop.create_future(); f.set_result(i); await f`" },
    },
  },
  {
    id = "W2b",
    title = "ping-pong: two tasks hand a fresh promise back and forth, {n} hops (every await suspends)",
    n = 1000000,
    smoke_n = 20000,
    even = true,
    design = "Node (same pattern)",
    figures = {
      { key = "ns", label = "ns/hop", unit = "ns", ref = "node", about = "wall time of the game / hops" },
    },
    targets = {
      { impl = "tide", key = "ns", ref = "node", max_ratio = 1.5, text = "<= 1.5x Node" },
    },
    impls = {
      { name = "node", label = "Node", needs = "node", cmd = node("bench/peers/node/w2b.js"),
        about = "two async functions; new Promise + published resolver" },
      { name = "tide", label = "tide", tide = true, cmd = lua("bench/tide/w2b_pingpong.lua"),
        about = "two tasks; `tide.deferred()` + published resolver" },
      { name = "lua-promise", label = "pure-Lua promise", cmd = lua("bench/peers/lua/promise_w2b.lua"),
        about = "the same on bench/peers/lua/promise.lua" },
      { name = "cqueues", label = "cqueues.promise", needs = "cqueues", cmd = lua("bench/peers/cqueues/w2b.lua"),
        about = "two `cq:wrap` coroutines; promise.new + set, waiting in `get` (a condition wait)" },
      { name = "python-asyncio", label = "Python asyncio", needs = "python", scale = 0.25,
        cmd = python("bench/peers/python/w2b.py", "asyncio"),
        about = "two tasks; futures; a quarter of N, to keep the run short" },
      { name = "python-uvloop", label = "Python uvloop", needs = "uvloop", scale = 0.25,
        cmd = python("bench/peers/python/w2b.py", "uvloop"), about = "the same on uvloop" },
    },
  },
  {
    id = "W3",
    title = "{n} tasks each sleep 0.1 s, then count the completions",
    n = 100000,
    smoke_n = 2000,
    design = "C 0.145 s / 153 B per timer; Node 2.2x C and 1,047 B; best Lua peer copas 1,458 B",
    figures = {
      { key = "wall_s", label = "wall s", unit = "s", ref = "c",
        about = "wall time from the first spawn until every task is done" },
      { key = "heap_B", label = "Lua heap B/task", unit = "B",
        about = "Lua runtimes only: collectgarbage('count') after a full collection with every task " ..
          "pending, minus the same before spawning, / N (a separate pass of the same program; tide " ..
          "allocates its C structures through Lua's allocator, so they are counted)" },
      { key = "rss_B", label = "RSS B/task", unit = "B", ref = "c",
        about = "every runtime: peak resident set (VmHWM, reset just before) minus the resident set " ..
          "before spawning (VmRSS, after a full collection), / N; garbage not yet collected counts" },
    },
    targets = {
      { impl = "tide", key = "wall_s", ref = "c", max_ratio = 1.5, text = "wall <= 1.5x C" },
      { impl = "tide", key = "heap_B", max = 1200, text = "<= 1,200 B per task (Lua heap)" },
    },
    impls = {
      { name = "c", label = "C libuv (floor)", needs = "c", cmd = { "bench/out/w3_timers", "{n}" },
        about = "an array of N uv_timer_t, all started, one counting callback" },
      { name = "tide", label = "tide", tide = true, cmd = lua("bench/tide/w3_timers.lua"),
        about = "N `tide.spawn(worker)` at top level, worker = `tide.sleep(0.1):await()`; then `tide.run()`" },
      { name = "luv", label = "luv + coroutines", needs = "luv", cmd = lua("bench/peers/luv/w3.lua"),
        about = "N coroutines, each with its own uv timer whose callback closes it and resumes" },
      { name = "cqueues", label = "cqueues", needs = "cqueues", cmd = lua("bench/peers/cqueues/w3.lua"),
        about = "N `cq:wrap` coroutines each `cqueues.sleep(0.1)`; `cq:loop()`" },
      { name = "node", label = "Node", needs = "node",
        cmd = { "node", "--expose-gc", "bench/peers/node/w3.js", "{n}" }, -- a full GC before the baseline
        about = "N async functions `await new Promise(r => setTimeout(r, 100))`" },
      { name = "python-asyncio", label = "Python asyncio", needs = "python",
        cmd = python("bench/peers/python/w3.py", "asyncio"), about = "N tasks `await asyncio.sleep(0.1)`" },
      { name = "python-uvloop", label = "Python uvloop", needs = "uvloop",
        cmd = python("bench/peers/python/w3.py", "uvloop"), about = "the same on uvloop (libuv)" },
    },
  },
}

--- Peers named in DESIGN.md that are not run, and why (shown in RESULTS.md).
local not_included = {
  "copas: Debian's lua-copas (1.2.0) is built for Lua 5.1 and 5.2 only, not 5.4.",
  "aiohttp, libcurl, lua-http, nginx: they are peers of the HTTP workloads W4/W5, not written yet.",
}

return { workloads = workloads, runtimes = runtimes, not_included = not_included }
