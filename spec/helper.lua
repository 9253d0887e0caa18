--- Test helper, loaded by busted before the specs (see .busted).
--
-- Gives every spec:
--   helper.run(fn, timeout)  tide.run(fn) that fails with the live tasks'
--                            whereabouts instead of hanging past `timeout`
--   helper.run_slow(fn, timeout)  the same, `timeout` (10) stretched by SLOW
--   helper.raised(fn, ...)   what fn(...) raises at once, as raised
--   helper.misuse(fn, kind)  the message of the misuse error fn raises at once
--   helper.expect(n)         a callback counter checked at the end of the test
--   helper.setup()           call inside a describe: before/after each test it
--                            checks that no task, timer, handle or fd leaked
--   helper.tmpdir()          a fresh temporary directory
--   helper.rejection(p)      p's rejection reason (fails if p fulfils)
--   helper.wait_for(cond)    polls cond() until it holds or time runs out
--   helper.key(name)         a name no other test of this run uses
--   helper.capture_unhandled(finally)  what reaches tide.on_unhandled in this test
-- Specs talk only to servers on 127.0.0.1.
local helper = {}

-- Use the checkout's build unless told to test the installed rock.
if not os.getenv("TIDE_TEST_INSTALLED") then
  package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
  package.cpath = "./build/?.so;" .. package.cpath
  local build = os.getenv("TIDE_BUILD_DIR")
  if build then package.cpath = build .. "/?.so;" .. package.cpath end
end

local tide = require "tide"
local core = require "tide.core"

-- Sanitizers, valgrind and GC stress slow everything down: specs stretch
-- upper bounds on durations (and close deadlines) by helper.SLOW.
local PRELOAD = os.getenv("LD_PRELOAD") or ""
-- (A full collection at every await costs in proportion to the heap, which
-- grows with every module the run has loaded: GC stress counts as valgrind.)
helper.SLOW = (PRELOAD:find("vgpreload", 1, true) or os.getenv("TIDE_GC_STRESS")) and 10
  or PRELOAD:find("asan", 1, true) and 3 or 1
-- Under AddressSanitizer freed memory is quarantined (256 MiB by default),
-- so the process's RSS says nothing about what tide holds (nor under valgrind).
helper.RSS_MEANINGFUL = not PRELOAD:find("asan", 1, true) and not PRELOAD:find("vgpreload", 1, true)

local lfs = require "lfs"
local luassert = require "luassert"

--- Number of open file descriptors of this process (listed in-process: a
--- subprocess would race with the pipe it is read through).
function helper.open_fds()
  local n = 0
  for name in lfs.dir("/proc/self/fd") do
    if name ~= "." and name ~= ".." then n = n + 1 end
  end
  return n - 1 -- the directory handle of lfs.dir itself
end

local function describe_tasks()
  local lines = {}
  for _, t in ipairs(tide.tasks()) do
    lines[#lines + 1] = ("  %s %s at %s"):format(tostring(t.task), t.status, tostring(t.where))
  end
  return table.concat(lines, "\n")
end

--- The rejection reason of p (fails if it fulfils).
function helper.rejection(p)
  local ok, err = tide.pawait(p)
  assert(not ok, "expected a rejection, got " .. tostring(err))
  return err
end

--- Polls cond() every `interval` s (default 0.01; 0 is once per loop turn),
--- in a task or at the top level, until it is true or `timeout` s (default
--- 3) passed; returns whether it became true.
function helper.wait_for(cond, timeout, interval)
  local deadline = tide.now() + (timeout or 3)
  while not cond() do
    if tide.now() > deadline then return false end
    tide.sleep(interval or 0.01):await()
  end
  return true
end

local nkeys = 0
--- `name` made unique across the whole run (a key for the fault server,
--- which every spec file shares).
function helper.key(name)
  nkeys = nkeys + 1
  return ("%s-%d"):format(name, nkeys)
end

--- Collects what reaches tide.on_unhandled during the test: record(reason,
--- promise, traceback) for each report (default: the reason). The previous
--- handler is put back through `finally`, busted's per-test one, which only
--- the spec itself can name.
function helper.capture_unhandled(finally, record)
  local reports = {}
  local prev = tide.on_unhandled(function(...)
    reports[#reports + 1] = record and record(...) or (...)
  end)
  finally(function() tide.on_unhandled(prev) end)
  return reports
end

--- Runs fn as the main task with a watchdog: past `timeout` seconds (default
--- 10) the test fails with where the live tasks are.
function helper.run(fn, timeout, ...)
  timeout = timeout or 10
  local args = table.pack(...)
  local main = tide.spawn(fn, table.unpack(args, 1, args.n))
  local fired = false
  local watchdog = tide.set_timeout(function()
    fired = true
    main:cancel("watchdog")
  end, timeout)
  watchdog:unref()
  -- (pawait itself raises an error that a callback left unhandled: the
  -- watchdog goes either way, or it would outlive the test.)
  local waited, ok, res = pcall(tide.pawait, main)
  watchdog:cancel()
  if not waited then error(ok, 0) end
  if fired then
    error(("test did not finish within %g s; live tasks:\n%s"):format(timeout, describe_tasks()), 2)
  end
  if not ok then error(res, 0) end
  return res
end

--- helper.run with a watchdog of `timeout` (default 10) s, stretched by
--- helper.SLOW (for specs whose waits sanitizers and valgrind slow down).
function helper.run_slow(fn, timeout) return helper.run(fn, (timeout or 10) * helper.SLOW) end

--- What fn(...) raised, as raised; it must raise at once (a promise it
--- returns instead is caught, to keep stderr quiet, and fails the test).
function helper.raised(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok and type(res) == "userdata" then pcall(res.catch, res, function() end) end
  assert(not ok, "expected an error raised at once, got " .. tostring(res))
  return res
end

--- The message of the misuse error fn raises at once (not a promise that
--- rejects: one returned is caught, to keep stderr quiet, and fails the
--- test): a `usage` tide.error's message, or a string error's text without
--- the position in front, a position that must not point into tide's own
--- files. With kind "usage", only a usage tide.error will do.
function helper.misuse(fn, kind)
  local err = helper.raised(fn)
  if tide.is_error(err) then
    luassert.equal("usage", err.kind)
    return err.message
  end
  assert(kind == nil, ("expected a %s error, got %s"):format(kind, tostring(err)))
  luassert.is_string(err)
  local where, msg = err:match("^([^\n]-):%d+: (.*)$")
  if where then
    assert(not where:find("tide/", 1, true), "the message points into tide's own source: " .. err)
    return msg
  end
  return err
end

local expectations = {}

--- Returns a function that counts its calls; the test fails at its end
--- unless it was called exactly n times (default 1).
function helper.expect(n, fn)
  local e = { want = n or 1, got = 0, where = debug.traceback("", 2) }
  expectations[#expectations + 1] = e
  return function(...)
    e.got = e.got + 1
    if fn then return fn(...) end
  end
end

local baseline_fds

--- Registers the per-test checks in the enclosing describe block.
-- How long the leak check lets a test's leftovers run before it cancels them.
local LEFTOVER_WAIT = 5 * helper.SLOW

function helper.setup()
  local busted = require "busted"
  busted.before_each(function()
    expectations = {}
    baseline_fds = helper.open_fds()
  end)
  busted.after_each(function()
    -- Let what the test left behind settle, then nothing may remain. The
    -- default HTTP client's pooled connections are not a leak: close them.
    -- What a failed test left running (a request to a silent server, a
    -- long timer) is listed and cancelled after a while, or the run of the
    -- whole file would hang here.
    local msg = {}
    local guard = tide.set_timeout(function()
      local f = io.tmpfile()
      tide.dump(f)
      f:seek("set")
      msg[#msg + 1] = ("still running %g s after the test:\n%s"):format(LEFTOVER_WAIT, f:read("a"))
      f:close()
      for _, h in ipairs(tide.handles()) do
        local what = h.task or h.promise or h.timer
        if what then pcall(what.cancel, what) end
      end
    end, LEFTOVER_WAIT)
    guard:unref()
    tide.run()
    guard:cancel()
    tide.http.close()
    local s = core.stats()
    if s.tasks ~= 0 then msg[#msg + 1] = ("%d live task(s):\n%s"):format(s.tasks, describe_tasks()) end
    if s.timers ~= 0 then msg[#msg + 1] = ("%d pending timer(s)"):format(s.timers) end
    if s.immediates ~= 0 then msg[#msg + 1] = ("%d pending immediate(s)"):format(s.immediates) end
    if s.handles ~= 0 then msg[#msg + 1] = ("%d active libuv handle(s)"):format(s.handles) end
    local fds = helper.open_fds()
    if fds ~= baseline_fds then
      msg[#msg + 1] = ("open fds: %d, %d before the test"):format(fds, baseline_fds)
    end
    for _, e in ipairs(expectations) do
      if e.got ~= e.want then
        msg[#msg + 1] = ("callback expected %d call(s), got %d%s"):format(e.want, e.got, e.where)
      end
    end
    expectations = {}
    if #msg > 0 then error("leak check: " .. table.concat(msg, "; "), 0) end
  end)
end

--- A fresh temporary directory (removed at exit by the OS's tmp cleaning).
function helper.tmpdir()
  local p = io.popen("mktemp -d /tmp/tide-spec-XXXXXX")
  local dir = p:read("*l")
  p:close()
  return dir
end

--- Runs code in a fresh lua5.4 process (for REPL, signals, exits), with
--- standard input `input` and environment variables `env` (a table);
--- returns its combined output and exit status.
function helper.lua(code, input, env)
  local dir = helper.tmpdir()
  local script = dir .. "/script.lua"
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local vars = {}
  for k, v in pairs(env or {}) do vars[#vars + 1] = ("%s=%q"):format(k, v) end
  local cmd = ("cd %q && %s LUA_PATH=%q LUA_CPATH=%q lua5.4 %s 2>&1"):format(
    os.getenv("PWD") or ".", table.concat(vars, " "), package.path, package.cpath,
    input and ("- < " .. dir .. "/input") or script)
  if input then
    local i = assert(io.open(dir .. "/input", "w"))
    i:write(input)
    i:close()
  end
  local p = io.popen(cmd)
  local out = p:read("*a")
  local _, _, status = p:close()
  os.execute("rm -rf " .. dir)
  return out, status
end

--- Types `lines` into an interactive lua5.4 (in a pseudo-terminal), with
--- Ctrl-C pressed after line `interrupt_after` (0: never); returns the
--- transcript.
function helper.repl(lines, interrupt_after)
  local args = {}
  for i, line in ipairs(lines) do args[i] = ("%q"):format(line) end
  local cmd = ("LUA_PATH=%q LUA_CPATH=%q python3 spec/support/repl.py %d %s 2>&1"):format(
    package.path, package.cpath, interrupt_after or 0, table.concat(args, " "))
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

package.loaded["spec.helper"] = helper
return helper
