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
---                    against; none for an absolute figure), higher (true
---                    when more is better: rates), about
---   targets          DESIGN.md's targets: impl, key, and either
---                    max_ratio or min_ratio against ref, or max (absolute),
---                    text
---   params           values for the programs' command lines, {name} in cmd
---                    (smoke_params for `bench/run --smoke`, when they
---                    differ). For the HTTP workloads: file (served by the
---                    local nginx that bench/run starts; {url} is its URL),
---                    size (its bytes: a program must report
---                    bytes = N * size), inflight
---   notes            more lines for RESULTS.md
---   impls            name (as in the RESULT line), label, cmd ({n}, {id}
---                    and the params are replaced), needs (a runtime below;
---                    tide needs none), tide = true for tide's own (a failure
---                    fails the run), scale (fraction of N, for slow peers),
---                    about
---
--- Every program prints one line:
---   RESULT workload=<id> impl=<name> n=<N> count=<done> <key>=<value>...
--- and count must equal N.

local function lua(script) return { "lua5.4", script, "{n}" } end
local function node(script, variant) return { "node", script, "{n}", variant } end
local function python(script, loop) return { "/usr/bin/python3", script, "{n}", loop } end
-- The HTTP programs (W4, W5) all take N WORKLOAD URL SIZE INFLIGHT [variant].
local function http(argv, ...)
  local cmd = {}
  for _, a in ipairs(argv) do cmd[#cmd + 1] = a end
  for _, a in ipairs { "{n}", "{id}", "{url}", "{size}", "{inflight}", ... } do cmd[#cmd + 1] = a end
  return cmd
end
local LUAHTTP_PATH = "package.path = package.path .. ';/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua'"

--- Runtimes a peer may need; each is probed once with this command.
local runtimes = {
  c = { "test", "-x", "bench/out/w1_idle" },
  luv = { "lua5.4", "-e", "require 'luv'" },
  cqueues = { "lua5.4", "-e", "require 'cqueues'" },
  node = { "node", "--version" },
  python = { "/usr/bin/python3", "-c", "import asyncio" },
  uvloop = { "/usr/bin/python3", "-c", "import uvloop" },
  curl_c = { "test", "-x", "bench/out/http_multi_poll" },
  aiohttp = { "/usr/bin/python3", "-c", "import aiohttp" },
  aiohttp_uvloop = { "/usr/bin/python3", "-c", "import aiohttp, uvloop" },
  lua_http = { "lua5.4", "-e", LUAHTTP_PATH .. " require 'http.client'" },
  cjson = { "lua5.4", "-e", "require 'cjson'" },
  aws_sdk = { "test", "-d", ".cache/npm/node_modules/@aws-sdk/client-dynamodb" },
  expat = { "lua5.4", "-e", "require 'lxp'" },
  curl_cli = { "curl", "--version" },
  -- W9: the S3 emulator bench/run starts (BENCH_S3), Debian's awscli, curl.
  s3 = { "sh", "-c", 'test -n "$BENCH_S3" && lua5.4 -e "require [[lxp]]"' },
  awscli = { "sh", "-c", 'test -n "$BENCH_S3" && aws --version' },
  curl_s3 = { "sh", "-c", 'test -n "$BENCH_S3" && curl --version' },
}

-- What W4 and W5 say about their server and machine (RESULTS.md).
local http_notes = {
  "Server: nginx (Debian's), started by bench/run on a free 127.0.0.1 port with a generated config " ..
    "(bench/out/nginx/nginx.conf): 1 worker process, access_log off, sendfile (tcp_nopush off), open_file_cache, " ..
    "keepalive_requests 100000 (connections are reused for the whole run). Files of random bytes.",
  "The machine has 2 cores (see above), shared by the client under test and nginx's one worker: " ..
    "a client that needs less CPU per request leaves more to the server. The figures are of one " ..
    "client process; nginx's own CPU is not counted.",
  "Connections are opened inside the timed stretch (one per request in flight), as a real " ..
    "program would; there is no warm-up.",
}

-- W6 (download to a file) and W6U (upload from one): the same shape, each
-- against the curl command line on the same nginx. nginx stores uploads
-- under www/upload/ (bench/run's config: dav_methods PUT).
local function w6(id, what, title, ref, impl, impls)
  return {
    id = id,
    title = title,
    n = 2,
    smoke_n = 2,
    params = { file = "1g.bin", size = 1024 * 1024 * 1024, size_mib = 1024, inflight = 1,
               src = "bench/out/nginx/www/1g.bin" },
    smoke_params = { file = "16m.bin", size = 16 * 1024 * 1024, size_mib = 16, inflight = 1,
                     src = "bench/out/nginx/www/16m.bin" },
    design = "the curl command line (`curl -o`, `curl -T`) against the same nginx",
    figures = {
      { key = "mibps", label = "MiB/s", unit = "MiB/s", ref = ref, higher = true,
        about = "bytes of all " .. what .. "s (each checked: status, the file's size on the other side) / wall " ..
          "time from the first request to the last completion (higher is better)" },
      { key = "cpu_ms", label = "CPU ms/" .. what, unit = "ms", ref = ref,
        about = "CPU time (user + system) of the client, / N: tide's process with all its threads (os.clock), " ..
          "or the curl processes (their children's times, as bash's parent sees them)" },
    },
    targets = {
      { impl = impl, key = "mibps", ref = ref, min_ratio = 1.0, text = ">= 1.0x " .. ref .. "'s MiB/s" },
      { impl = impl, key = "cpu_ms", ref = ref, max_ratio = 1.2, text = "CPU <= 1.2x " .. ref .. "'s" },
    },
    notes = {
      "Server: the same nginx as W4/W5 (1 worker). Files of random bytes; uploads are stored by nginx's " ..
        "dav module (written to its temporary directory, then renamed), which costs the server the same for both.",
      "The machine has 2 cores, shared by the client and nginx. One transfer at a time, over a new " ..
        "connection for curl (one process per transfer) and a kept-alive one for tide.",
    },
    impls = impls,
  }
end

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
  {
    id = "W4",
    title = "{n} GETs of a 1 KiB file from a local nginx, 64 in flight",
    n = 20000,
    smoke_n = 200,
    params = { file = "1k.bin", size = 1024, inflight = 64 },
    design = "C libcurl multi_poll 49.9k req/s; C libcurl on libuv 0.86x; lua-http 0.30x; Node http 0.21x; " ..
      "fetch 0.08x",
    figures = {
      { key = "rps", label = "req/s", unit = "/s", ref = "c-poll", higher = true,
        about = "requests answered 200 with the whole 1 KiB body, / wall time from the first request to " ..
          "the last completion (higher is better)" },
      { key = "cpu_us", label = "CPU us/req", unit = "us", ref = "c-poll",
        about = "CPU time of the client process (user + system, all threads: getrusage, process.cpuUsage, " ..
          "or os.clock in Lua, which reads the same clock) over that stretch, / N" },
    },
    targets = {
      { impl = "tide", key = "rps", ref = "c-poll", min_ratio = 0.9, text = ">= 0.9x C multi_poll req/s" },
      { impl = "tide", key = "cpu_us", ref = "c-poll", max_ratio = 1.3,
        text = "CPU per request <= 1.3x C multi_poll" },
    },
    notes = http_notes,
    impls = {
      { name = "c-poll", label = "C libcurl multi_poll (floor)", needs = "curl_c",
        cmd = http { "bench/out/http_multi_poll" },
        about = "bench/c/http_multi_poll.c: 64 easy handles set up once, each re-added to the multi for " ..
          "the next request (its connection reused), a write callback that counts bytes; " ..
          "curl_multi_perform + curl_multi_poll" },
      { name = "c-uv", label = "C libcurl on libuv", needs = "curl_c", cmd = http { "bench/out/http_multi_uv" },
        about = "bench/c/http_multi_uv.c: the same requests through curl_multi_socket_action, a uv_poll_t per " ..
          "socket and a uv_timer_t, as in curl's multi-uv.c example (0 ms timeouts become 1 ms)" },
      { name = "tide", label = "tide", tide = true, cmd = http({ "lua5.4", "bench/tide/http_get.lua" }, "workers"),
        about = "one `tide.http.client`, 64 tasks each looping `client:get(url):await()` and reading `#res.body`" },
      { name = "tide-map", label = "tide map", tide = true, cmd = http({ "lua5.4", "bench/tide/http_get.lua" }, "map"),
        about = "the same through `tide.map(list, fn, {concurrency = 64})`" },
      { name = "node-http", label = "Node http", needs = "node",
        cmd = http({ "node", "bench/peers/node/http_get.js" }, "http"),
        about = "64 async workers; `http.get` with a keep-alive `http.Agent` (maxSockets 64), body from " ..
          "'data' events" },
      { name = "node-fetch", label = "Node fetch (undici)", needs = "node", scale = 0.25,
        cmd = http({ "node", "bench/peers/node/http_get.js" }, "fetch"),
        about = "64 async workers; the built-in `fetch`, `await res.arrayBuffer()`; a quarter of N, to keep the " ..
          "run short" },
      { name = "python-aiohttp", label = "Python aiohttp", needs = "aiohttp", scale = 0.25,
        cmd = http({ "/usr/bin/python3", "bench/peers/python/http_get.py" }, "asyncio"),
        about = "one `aiohttp.ClientSession` (connector limit 64), 64 tasks, `await res.read()`; a quarter of N" },
      { name = "python-aiohttp-uvloop", label = "Python aiohttp on uvloop", needs = "aiohttp_uvloop", scale = 0.25,
        cmd = http({ "/usr/bin/python3", "bench/peers/python/http_get.py" }, "uvloop"),
        about = "the same on uvloop; a quarter of N" },
      { name = "lua-http", label = "lua-http (cqueues)", needs = "lua_http",
        cmd = http { "lua5.4", "bench/peers/luahttp/http_get.lua" },
        about = "Debian's lua-http 0.4 on Lua 5.4 (its 5.1 directory on the path); 64 coroutines, each with " ..
          "one keep-alive connection (`http.client.connect`, `conn:new_stream()` per request; `http.request` " ..
          "has no pool), `stream:get_body_as_string()`" },
    },
  },
  {
    id = "W5",
    title = "{n} downloads of a {size_mib} MiB file from a local nginx, 8 in flight",
    n = 64,
    smoke_n = 4,
    params = { file = "16m.bin", size = 16 * 1024 * 1024, size_mib = 16, inflight = 8 },
    smoke_params = { file = "1m.bin", size = 1024 * 1024, size_mib = 1, inflight = 8 },
    design = "C multi_poll 1,988 MiB/s in 10 MiB RSS (2,392 with 100 KiB buffers); lua-http 0.77x in 174 MiB",
    figures = {
      { key = "mibps", label = "MiB/s", unit = "MiB/s", ref = "c-poll", higher = true,
        about = "body bytes of all downloads (each checked: 200 and the file's size) / wall time from the " ..
          "first request to the last completion (higher is better)" },
      { key = "rss_mib", label = "peak RSS MiB", unit = "MiB", ref = "c-poll",
        about = "resident peak of the client process over that stretch (VmHWM, reset just before; " ..
          "start-up and the runtime itself included)" },
      { key = "rss0_mib", label = "RSS before MiB", unit = "MiB",
        about = "resident size of the client process just before the first request (VmRSS): the runtime, " ..
          "its libraries and the program, before any body arrives; peak RSS minus this is what the " ..
          "downloads cost" },
    },
    targets = {
      { impl = "tide", key = "mibps", ref = "c-poll", min_ratio = 1.0, text = ">= 1.0x C multi_poll MiB/s (buffered)" },
      { impl = "tide-stream", key = "mibps", ref = "c-poll", min_ratio = 1.0,
        text = ">= 1.0x C multi_poll MiB/s (stream = true)" },
      { impl = "tide-stream", key = "rss_mib", ref = "c-poll", max_ratio = 2.0,
        text = "with `stream = true` peak RSS <= 2x C multi_poll" },
    },
    notes = http_notes,
    impls = {
      { name = "c-poll", label = "C libcurl multi_poll (floor)", needs = "curl_c",
        cmd = http { "bench/out/http_multi_poll" },
        about = "bench/c/http_multi_poll.c as in W4 with 8 handles; the write callback counts the bytes and " ..
          "keeps nothing; curl's default 16 KiB receive buffer" },
      { name = "c-poll-100k", label = "C multi_poll, 100 KiB buffer", needs = "curl_c",
        cmd = http({ "bench/out/http_multi_poll" }, "102400"),
        about = "the same with CURLOPT_BUFFERSIZE 100 KiB (tide's default)" },
      { name = "c-uv", label = "C libcurl on libuv", needs = "curl_c", cmd = http { "bench/out/http_multi_uv" },
        about = "bench/c/http_multi_uv.c as in W4, default buffer" },
      { name = "tide", label = "tide buffered", tide = true,
        cmd = http({ "lua5.4", "bench/tide/http_get.lua" }, "workers"),
        about = "one `tide.http.client`, 8 tasks each looping `client:get(url):await()` and reading `#res.body` " ..
          "(the whole body in memory)" },
      { name = "tide-stream", label = "tide stream=true", tide = true,
        cmd = http({ "lua5.4", "bench/tide/http_get.lua" }, "stream"),
        about = "the same with `stream = true`, `for chunk in res:chunks()` counting and dropping the chunks" },
      { name = "node-http", label = "Node http", needs = "node",
        cmd = http({ "node", "bench/peers/node/http_get.js" }, "http"),
        about = "8 async workers; `http.get` with a keep-alive `http.Agent` (maxSockets 8), counting 'data' chunks" },
      { name = "python-aiohttp", label = "Python aiohttp", needs = "aiohttp",
        cmd = http({ "/usr/bin/python3", "bench/peers/python/http_get.py" }, "asyncio"),
        about = "one `aiohttp.ClientSession` (connector limit 8), 8 tasks, `async for chunk in " ..
          "res.content.iter_any()` counting and dropping" },
      { name = "lua-http", label = "lua-http (cqueues)", needs = "lua_http",
        cmd = http { "lua5.4", "bench/peers/luahttp/http_get.lua" },
        about = "8 coroutines, one keep-alive connection each (as in W4), `for chunk in stream:each_chunk()` " ..
          "counting and dropping" },
    },
  },
  w6("W6", "download", "{n} downloads of a {size_mib} MiB file from a local nginx into a file, one at a time",
    "curl-o", "tide-output", {
      { name = "curl-o", label = "curl -o (the command line)", needs = "curl_cli",
        cmd = http({ "bench/peers/curl/w6_curl.sh" }, "download", "{src}"),
        about = "bench/peers/curl/w6_curl.sh: `curl -sS -o <tmp> URL`, N times; CPU is the curl processes' " ..
          "(their start-up included)" },
      { name = "tide-output", label = "tide output =", tide = true,
        cmd = http({ "lua5.4", "bench/tide/w6_file.lua" }, "download", "{src}"),
        about = "bench/tide/w6_file.lua: `client:get(url, {output = path}):await()` N times: the body goes to " ..
          "the file through libuv's thread pool (two 1 MiB buffers), never into Lua" },
    }),
  w6("W6U", "upload", "{n} uploads (PUT) of a {size_mib} MiB file to a local nginx, one at a time",
    "curl-T", "tide-body", {
      { name = "curl-T", label = "curl -T (the command line)", needs = "curl_cli",
        cmd = http({ "bench/peers/curl/w6_curl.sh" }, "upload", "{src}"),
        about = "bench/peers/curl/w6_curl.sh: `curl -sS -T FILE <host>/upload/curl.bin`, N times; CPU is the " ..
          "curl processes'" },
      { name = "tide-body", label = "tide body = {file =}", tide = true,
        cmd = http({ "lua5.4", "bench/tide/w6_file.lua" }, "upload", "{src}"),
        about = "bench/tide/w6_file.lua: `client:put(url, {body = {file = FILE}}):await()` N times: libcurl reads " ..
          "the file with pread(2) in its read callback, Content-Length from fstat" },
    }),
  {
    id = "W7",
    title = "{n} DynamoDB GetItem calls, 64 in flight, SigV4 and retries on, against a local stub",
    n = 10000,
    smoke_n = 200,
    -- The stub is the local nginx's `location = /` (bench/run): a fixed
    -- item of `size` bytes for every POST.
    params = { file = "", size = 104, inflight = 64 },
    design = "the AWS SDK for JavaScript v3 made 1,364 calls/s here against plain tide.http's 19,401 req/s",
    figures = {
      { key = "cps", label = "calls/s", unit = "/s", ref = "node-sdk", higher = true,
        about = "calls that returned the item, / wall time from the first call to the last completion" },
      { key = "cpu_us", label = "CPU us/call", unit = "us", ref = "tide-http",
        about = "CPU time of the client process over that stretch, / N" },
    },
    targets = {
      { impl = "tide-aws", key = "cps", ref = "node-sdk", min_ratio = 5, text = ">= 5x the JS SDK's calls/s" },
      { impl = "tide-aws", key = "cpu_us", ref = "tide-http", max_ratio = 1.5,
        text = "CPU per call <= 1.5x plain tide.http POSTs" },
    },
    notes = http_notes,
    impls = {
      { name = "tide-aws", label = "tide.aws", tide = true, needs = "expat",
        cmd = http({ "lua5.4", "bench/tide/w7_getitem.lua" }, "aws"),
        about = "`aws.dynamodb{...}`, 64 tasks each looping `db:get_item{TableName=, Key=}:await()`: " ..
          "SigV4 on every call, standard retries on, the JSON output decoded" },
      { name = "tide-http", label = "plain tide.http POSTs", tide = true,
        cmd = http({ "lua5.4", "bench/tide/w7_getitem.lua" }, "http"),
        about = "the same body and X-Amz-Target through `client:post(url, {body=, headers=})`, unsigned, " ..
          "`res:json()`: the floor" },
      { name = "node-sdk", label = "AWS SDK for JS v3 (Node)", needs = "aws_sdk", scale = 0.25,
        cmd = http { "node", "--no-warnings", "bench/peers/node/w7_getitem.js" },
        about = "`@aws-sdk/client-dynamodb` (pinned in bench/run), `client.send(new GetItemCommand(...))` from " ..
          "64 async workers, a keep-alive agent with 64 sockets; a quarter of N" },
    },
  },
  {
    id = "W9",
    title = "S3: an upload then a download of one {size_mib} MiB object through s3rver, {n} time(s)",
    n = 1,
    smoke_n = 1,
    params = { size = 268435456, size_mib = 256 },
    smoke_params = { size = 8388608, size_mib = 8 },
    design = "issue 13: s3:upload/s3:download >= 1.0x `aws s3 cp`'s MiB/s on the same server",
    figures = {
      { key = "up_mibps", label = "upload MiB/s", unit = "MiB/s", ref = "awscli", higher = true,
        about = "SIZE / wall time of the upload (file to object)" },
      { key = "down_mibps", label = "download MiB/s", unit = "MiB/s", ref = "awscli", higher = true,
        about = "SIZE / wall time of the download (object to file)" },
      { key = "up_cpu_s", label = "upload CPU s", unit = "s", ref = "awscli",
        about = "CPU time of the client (user + system) during the upload" },
      { key = "down_cpu_s", label = "download CPU s", unit = "s", ref = "awscli",
        about = "CPU time of the client during the download" },
    },
    targets = {
      { impl = "tide", key = "up_mibps", ref = "awscli", min_ratio = 1.0, text = "upload >= `aws s3 cp`'s MiB/s" },
      { impl = "tide", key = "down_mibps", ref = "awscli", min_ratio = 1.0,
        text = "download >= `aws s3 cp`'s MiB/s" },
    },
    notes = {
      "Server: s3rver (npm, pinned in scripts/deps.sh), started by bench/run on a free 127.0.0.1 port with its " ..
        "filesystem store in bench/out/s3rver (Node, one process; it writes every object and part to disk, and " ..
        "a multipart completion copies the parts into the object). The source file is random bytes " ..
        "(bench/out/s3/SIZE.bin).",
      "`curl -T` / `curl -o` move the object in one stream each way with no payload hash: they give the " ..
        "server's own limit for one connection, beside which the other two can be read.",
      "The machine has 2 cores, shared by the client and s3rver; s3rver's CPU is not counted.",
    },
    impls = {
      { name = "tide", label = "tide.aws s3:upload / s3:download", tide = true, needs = "s3",
        cmd = { "lua5.4", "bench/tide/w9_s3.lua", "{n}", "{size}" },
        about = "defaults: 8 MiB parts, 4 in flight; each part a byte range of the file, hashed and read in C, " ..
          "its SHA-256 signed; " ..
          "ranges written at their offsets" },
      { name = "awscli", label = "aws s3 cp (awscli)", needs = "awscli",
        cmd = { "/usr/bin/python3", "bench/peers/python/w9_s3_cli.py", "{n}", "{size}", "awscli" },
        about = "the command line's defaults: 8 MiB parts, 10 requests at a time; a new process each way" },
      { name = "curl", label = "curl -T / curl -o (one stream)", needs = "curl_s3",
        cmd = { "/usr/bin/python3", "bench/peers/python/w9_s3_cli.py", "{n}", "{size}", "curl" },
        about = "one PUT of the whole file (UNSIGNED-PAYLOAD) and one GET: the server's limit" },
    },
  },
  {
    id = "W8",
    title = "JSON: decode and encode one ~1 MiB document, and {n} small ones",
    n = 100000,
    smoke_n = 2000,
    design = "lua-cjson (Debian's 2.1.0), which decodes every number to a float",
    figures = {
      { key = "big_dec_ms", label = "1 MiB decode ms", unit = "ms", ref = "cjson",
        about = "CPU time (os.clock: the loops never wait) of one decode of the ~1 MiB document (an array " ..
          "of 2,965 API-style records: integers, floats, strings with escapes and non-ASCII, booleans, " ..
          "null, nested objects and arrays), the mean of 20 after a warm-up; the garbage it makes is " ..
          "collected as it goes" },
      { key = "big_enc_ms", label = "1 MiB encode ms", unit = "ms", ref = "cjson",
        about = "CPU time of one encode of that decoded value, the mean of 20 after a warm-up" },
      { key = "small_dec_ns", label = "small decode ns", unit = "ns", ref = "cjson",
        about = "CPU time of decoding N small documents (one ~330-byte record each, 1,000 distinct ones " ..
          "in turn) / N" },
      { key = "small_enc_ns", label = "small encode ns", unit = "ns", ref = "cjson",
        about = "CPU time of encoding the decoded records back, N times / N" },
    },
    targets = {
      { impl = "tide", key = "big_dec_ms", ref = "cjson", max_ratio = 1.0, text = "1 MiB decode <= lua-cjson" },
      { impl = "tide", key = "big_enc_ms", ref = "cjson", max_ratio = 1.0, text = "1 MiB encode <= lua-cjson" },
      { impl = "tide", key = "small_dec_ns", ref = "cjson", max_ratio = 1.0, text = "small decode <= lua-cjson" },
      { impl = "tide", key = "small_enc_ns", ref = "cjson", max_ratio = 1.0, text = "small encode <= lua-cjson" },
    },
    notes = {
      "Both programs run the same loops (bench/lib/json_w8.lua) over the same generated documents " ..
        "(bench/lib/json_data.lua). tide keeps JSON integers as Lua integers (the count checks that every " ..
        "id came back an integer); lua-cjson 2.1.0 makes them floats (7.0), and writes floats with %.14g, " ..
        "which loses digits (tide writes, with Grisu2, text that reads back to the same double).",
    },
    impls = {
      { name = "cjson", label = "lua-cjson 2.1.0", needs = "cjson", cmd = lua("bench/peers/lua/cjson_w8.lua"),
        about = "`cjson.decode` / `cjson.encode`, Debian's lua-cjson" },
      { name = "tide", label = "tide.json", tide = true, cmd = lua("bench/tide/w8_json.lua"),
        about = "`tide.json.decode` / `tide.json.encode` (RapidJSON's SAX reader and writer, building and " ..
          "reading Lua values directly)" },
    },
  },
}

--- Peers named in DESIGN.md that are not run, and why (shown in RESULTS.md).
local not_included = {
  "copas: Debian's lua-copas (1.2.0) is built for Lua 5.1 and 5.2 only, not 5.4.",
}

return { workloads = workloads, runtimes = runtimes, not_included = not_included }
