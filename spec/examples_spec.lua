-- Runs every script in examples/ in a fresh lua5.4 process, so that none of
-- them rots: each must exit with status 0, write nothing to stderr and
-- print its key lines. A new example is picked up automatically and fails
-- until it has an entry in `expected` below.
local helper = require "spec.helper"
local lfs = require "lfs"

-- Lua patterns that must match somewhere in an example's output (at least
-- one each); `check(out)` may test what patterns cannot (timings).
local function ms(out, pattern) return tonumber(out:match(pattern)) end

-- `needs`: a server the example talks to, started by this spec ("dynamodb" is
-- dynalite, its endpoint in AWS_ENDPOINT_URL_DYNAMODB): "api" is
-- scripts/local-api (its URL in TIDE_DEMO_URL, its Unix socket in
-- TIDE_DEMO_SOCKET, its directory, with the TLS files, in TIDE_DEMO_DIR),
-- "socks" is "api" and spec/support/socks5.py (TIDE_DEMO_PROXY), "s3" is s3rver
-- (S3_ENDPOINT, S3_BUCKET and credentials in the environment); "api+s3" is
-- both.
local expected = {
  demo = {
    needs = "api+s3",
    "sequential: Ada, 2 orders, theme dark +%d+ ms",
    "parallel: +Ada, 2 orders, theme dark +%d+ ms",
    "limited: +12 items, 4 at a time +%d+ ms",
    "download: +%[#+%] 4096 KiB in %d+ ms over HTTP/1.1",
    "timings of one call: dns [%d.]+ ms, connect [%d.]+ ms, first byte [%d.]+ ms, total [%d.]+ ms",
    's3: put %+ get greeting.txt: "Hello from tide!" %(text/plain, 16 bytes, from=demo%) +%d+ ms',
    check = function(out)
      local seq, par = ms(out, "sequential:.- (%d+) ms"), ms(out, "parallel:.- (%d+) ms")
      assert.is_true(seq >= 290, "sequential took " .. seq .. " ms")
      assert.is_true(par < 0.6 * seq, ("parallel %d ms vs sequential %d ms"):format(par, seq))
      assert.is_true(ms(out, "limited:.- (%d+) ms") >= 290)
    end,
  },
  http_events = {
    needs = "api",
    "message: tick %(id set%)",
    "note: two lines, / one event %(id set%)",
    "4 events over 2 connections",
  },
  http_client_hooks = {
    needs = "api",
    "POST /api/login %-> 200",
    "GET /api/whoami %-> 200",
    "server saw cookie: session=s3ss10n, auth: Bearer t0k3n",
    "jar: 1 cookie, session=s3ss10n for /api",
    "another client sends cookie: none",
  },
  http_multipart = {
    needs = "api",
    "uploaded: HTTP 200, the server read %d+ bytes, we sent %d+",
    check = function(out)
      local read, sent = out:match("the server read (%d+) bytes, we sent (%d+)")
      assert.equal(read, sent)
      assert.is_true(tonumber(read) > 1048576)
    end,
  },
  http_retry_after = {
    needs = "api",
    "request 1: HTTP 200 in %d+ ms",
    "  attempt 1: HTTP 429, Retry%-After: 1; waiting 1.0 s\nrequest 2: HTTP 200 in %d+ ms",
    check = function(out)
      assert.is_true(ms(out, "request 2: HTTP 200 in (%d+) ms") >= 900, "request 2 did not wait for Retry-After")
    end,
  },
  http_decompress = {
    needs = "api",
    "decoded: 94685 bytes of JSON, 2000 orders",
    "as sent: %d+ bytes, Content%-Encoding: gzip, gzip magic: yes",
    check = function(out)
      assert.is_true(tonumber(out:match("as sent: (%d+) bytes")) < 94685 / 4)
    end,
  },
  http_unix_socket = {
    needs = "api",
    "GET /api/users/7 over api.sock: HTTP 200, name Ada",
    "GET /api/orders over the socket: 2 orders",
    "missing socket: ok=false, network error ENOENT",
  },
  http_tls_client_cert = {
    needs = "api",
    "with a certificate: CN=example%-client, SUCCESS",
    "pinned to the right key: HTTP 200",
    "pinned to another key: ok=false, network error CURLE_SSL_PINNEDPUBKEYNOTMATCH",
    "without: HTTP 400, 400 No required SSL certificate was sent",
  },
  http_socks_proxy = {
    needs = "socks",
    "GET api.tide.test via socks5h: HTTP 200, name Ada",
  },
  http_progress = {
    needs = "api",
    "done: HTTP 200, 4194304 bytes, %d+ progress reports",
    check = function(out)
      assert.is_true(tonumber(out:match("(%d+) progress reports")) >= 2)
    end,
  },
  http_download_to_file = {
    needs = "api",
    "done: HTTP 200, 4194304 bytes written in %d+ ms",
    "on disk: 4194304 bytes; res.body is nil",
    "to /dev/full: ok=false, fs error ENOSPC",
  },
  http_upload_file = {
    needs = "api",
    'from a path: HTTP 200, {"bytes": 1048576}, 1048576 bytes sent',
    'from a tide.file at 1047576: HTTP 200, {"bytes": 1000}',
    "a missing file: ok=false, fs error ENOENT",
  },
  aws_list_tables = {
    needs = "dynamodb",
    "%d+ tables: ",
    "status 200 after 1 attempt%(s%)",
  },
  aws_parallel_calls = {
    needs = "dynamodb",
    "3 puts together: 200 200 200 in %d+ ms",
    "read back: Ada %(id 1, integer%), Grace %(id 2, integer%), Edsger %(id 3, integer%)",
  },
  aws_promise_chain = {
    needs = "dynamodb",
    "listed %d+ table%(s%) %(request %w+%)",
    "caught ResourceNotFoundException: DescribeTable %(HTTP 400, retryable false%)",
    "finally: the describe is settled",
  },
  s3_objects = {
    needs = "s3",
    "await: stored example2.txt",
    'promise: stored example1.txt, ETag "%x+"',
    'piped example1.txt to a file: 45 bytes, "Uploaded text using the promise%-based method!"',
    "listing of reports/: reports/2026%-01.csv %(8 bytes%), reports/2026%-02.csv %(8 bytes%), "
      .. "reports/2026%-03.csv %(8 bytes%)",
    "missing key: ok=false, NoSuchKey %(HTTP 404%)",
  },
  s3_multipart_upload = {
    needs = "s3",
    "upload:   %[#+%] 100%%",
    'uploaded in 4 parts, ETag "[^"]+", %d+ ms',
    "download: %[#+%] 100%%",
    "downloaded 16777216 bytes in %d+ ms",
    "the copy is identical: true",
  },
  sequential_vs_parallel = {
    "sequential: user ok, orders ok, profile ok in %d+ ms",
    "parallel: +user ok, orders ok, profile ok in %d+ ms",
    check = function(out)
      local seq, par = ms(out, "sequential:.- in (%d+) ms"), ms(out, "parallel:.- in (%d+) ms")
      assert.is_true(seq >= 290, "sequential took " .. seq .. " ms")
      assert.is_true(par < 0.6 * seq, ("parallel %d ms vs sequential %d ms"):format(par, seq))
    end,
  },
  all_unpack = {
    "results.n = 4",
    "user: +Ada %(id 7%)",
    "orders: 2, total 42",
    "prefs: +nil",
    "extra: +cached",
  },
  all_settled = {
    "ok +auth +auth up",
    "FAILED billing +billing: connection refused",
    "FAILED mail +timeout: timed out after 0.1 s",
    "ok +storage",
    "3 succeeded, 2 failed",
  },
  concurrency_limit = {
    "map: +1 4 9 16 25 36 49 64 81 100\n",
    "map: +peak in flight 3 %(limit 3%)",
    "semaphore: +1 4 9 16 25 36 49 64 81 100\n",
    "semaphore: +peak in flight 3 %(limit 3%)",
  },
  foreach_pitfall = {
    "pitfall: after the loop, saved 0 of 3",
    "pitfall: 100 ms later, saved 3 of 3",
    "fix 1 %(tide.all%): +saved 3 of 3",
    "fix 2 %(await in loop%): +saved 3 of 3",
    check = function(out)
      assert.is_true(ms(out, "fix 1 .- in (%d+) ms") < ms(out, "fix 2 .- in (%d+) ms"))
    end,
  },
  try_catch_finally = {
    "open +db\n +close db\n +result: true, 3 rows",
    "open +db\n +close db\n +caught: false, error 42, permission denied",
    "open +slow\n +close slow\n +task: false, cancelled: shutting down",
  },
  error_kinds = {
    "timeout +%-> timeout",
    "task:cancel +%-> cancelled",
    "string error +%-> user error: disk full",
    "table error +%-> user error table, code 404\n +%(the very table",
    "tide.any +%-> aggregate of: a, b",
    "chain:\nprofile: could not load the profile page\ncaused by: timeout: timed out after 0.02 s",
  },
  retry_backoff = {
    "attempt 1 failed: 503 Service Unavailable %(attempt 1%); retrying in %d+ ms",
    "attempt 2 failed: 503 Service Unavailable %(attempt 2%); retrying in %d+ ms",
    "result: 200 OK after 3 calls",
    "result: false, 404 Not Found after 1 call",
  },
  circuit_breaker = {
    "call 3 +502 Bad Gateway .- state=open",
    "call 4 +fail fast %(open_circuit%) .- state=open",
    "open_circuit: circuit open after 3 failures",
    "the service was hit 3 times for 5 calls",
    "call 6 +started as the trial; state=half_open",
    "call 7 +fail fast %(open_circuit%) .- state=half_open",
    "call 6 +200 OK .- state=closed",
  },
  timeout_cancels_work = {
    "in time: report",
    "work: my await raised a cancelled error, cause: timeout: timed out after 0.1 s\n[^\n]*work: cleanup ran",
    "too slow: ok=false, timeout: timed out after 0.1 s %(is timeout: true%)",
    "script done",
  },
  abort_controller = {
    "on_abort listener: user clicked cancel",
    "download 1: small.iso complete",
    "download 3: aborted: user clicked cancel",
    "started after the abort: ok=false, user clicked cancel",
    check = function(out)
      assert.is_nil(out:find("huge.iso: chunk 3/"), "huge.iso went on after the abort")
    end,
  },
  paginated_generator = {
    "take%(7%): user01 user02 user03 user04 user05 user06 user07\n",
    "pages fetched: 1, 2 of 10",
    "for loop: found user13, break\npages fetched: 1, 2, 3 of 10",
  },
  event_stream = {
    "event 1 at",
    "event 5 at",
    "consumer stopped after 5 events; source cancelled after sending 5",
    "100 ms later the source has still sent 5",
  },
  file_copy = {
    "source: 4194304 bytes",
    "%[####################%] 100%%",
    "copied 4194304 bytes in %d+ ms",
    "first bytes of the copy: 0123456789abcdef; size 4194304",
    "checksummed 4194304 bytes in 16 chunks: %d+",
  },
  file_lines = {
    "wrote 10000 lines",
    "read 10000 lines",
    "status 200: +6250 requests",
    "status 500: +1250 requests",
    "removed the file; exists: false",
  },
}

local function shell_quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

-- The environment of the example processes: this checkout's Lua files and
-- build (TIDE_BUILD_DIR, as in spec/helper.lua), or the installed rock.
local function lua_env()
  local env = "env -u LUA_PATH_5_4 -u LUA_CPATH_5_4"
  if os.getenv("TIDE_TEST_INSTALLED") then return env .. " -u LUA_PATH -u LUA_CPATH" end
  local build = os.getenv("TIDE_BUILD_DIR") or "./build"
  return ("%s LUA_PATH=%s LUA_CPATH=%s"):format(env, shell_quote("./lua/?.lua;./lua/?/init.lua;;"),
    shell_quote(build .. "/?.so;;"))
end

-- Servers the examples need, started on first use and stopped at the end
-- (without the sanitizer runtime a test run may preload).
local CLEAN_ENV = require("spec.support.servers").CLEAN_ENV
local servers = {}
local function server_env(kind)
  if kind == nil then return "" end
  if kind:find("+", 1, true) then
    -- Several servers: "api+s3".
    local envs = {}
    for one in kind:gmatch("[^+]+") do envs[#envs + 1] = server_env(one) end
    return table.concat(envs, " ")
  end
  if kind == "api" then
    if not servers.api then
      local p = io.popen(CLEAN_ENV .. "scripts/local-api start")
      local url, dir = p:read("l"):match("^(%S+) (%S+)$")
      p:close()
      servers.api = { env = ("TIDE_DEMO_URL=%s TIDE_DEMO_SOCKET=%s TIDE_DEMO_DIR=%s"):format(shell_quote(url),
        shell_quote(dir .. "/api.sock"), shell_quote(dir)), stop = function()
        os.execute(CLEAN_ENV .. "scripts/local-api stop " .. shell_quote(dir))
      end }
    end
  elseif kind == "socks" then
    if not servers.socks then
      local socks = require("spec.support.servers").socks5()
      servers.socks = { env = server_env("api") .. " TIDE_DEMO_PROXY=" .. shell_quote(socks.url), stop = socks.stop }
    end
  elseif kind == "dynamodb" then
    if not servers.dynamodb then
      local aws = require "spec.support.aws"
      local dyn = aws.dynalite()
      servers.dynamodb = {
        -- Never a real ~/.aws: aws.ENV points HOME and the shared files
        -- into a temporary directory.
        env = aws.ENV .. ("AWS_ENDPOINT_URL_DYNAMODB=%s AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=%s "
          .. "AWS_SECRET_ACCESS_KEY=%s"):format(shell_quote(dyn.endpoint), aws.CREDENTIALS.access_key_id,
          aws.CREDENTIALS.secret_access_key),
        stop = dyn.stop,
      }
    end
  elseif kind == "s3" then
    if not servers.s3 then
      local s3 = require("spec.support.s3").start()
      servers.s3 = {
        env = require("spec.support.aws").ENV .. ("AWS_REGION=us-east-1 S3_ENDPOINT=%s S3_BUCKET=%s "
          .. "AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s"):format(
          shell_quote(s3.s3), s3.bucket, s3.key, s3.secret),
        stop = s3.stop,
      }
    end
  end
  return servers[kind].env
end

-- Runs one example; returns its stdout, stderr and exit status.
local function run_example(file, needs)
  local errfile = os.tmpname()
  local p = io.popen(("%s %s timeout 20 lua5.4 %s 2>%s"):format(lua_env(), server_env(needs), shell_quote(file),
    shell_quote(errfile)))
  local out = p:read("a")
  local _, _, status = p:close()
  local f = assert(io.open(errfile))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return out, err, status
end

local examples = {}
for name in lfs.dir("examples") do
  local base = name:match("^(.+)%.lua$")
  if base then examples[#examples + 1] = base end
end
table.sort(examples)

describe("examples", function()
  teardown(function()
    for _, server in pairs(servers) do server.stop() end
  end)
  helper.setup()

  it("are all found, the demo among them", function()
    assert.is_true(#examples >= 17)
    local names = {}
    for _, name in ipairs(examples) do names[name] = true end
    for name in pairs(expected) do
      assert.is_true(names[name], "expectations for a missing example: examples/" .. name .. ".lua")
    end
  end)

  for _, name in ipairs(examples) do
    it(name, function()
      local want = expected[name]
      assert(want and #want > 0, "examples/" .. name .. ".lua has no expected output in spec/examples_spec.lua")
      local out, err, status = run_example("examples/" .. name .. ".lua", want.needs)
      local context = ("\n--- stdout of examples/%s.lua:\n%s--- stderr:\n%s"):format(name, out, err)
      assert(status == 0, ("exit status %s%s"):format(tostring(status), context))
      assert(err == "", "wrote to stderr" .. context)
      for _, pattern in ipairs(want) do
        assert(out:find(pattern), ("output does not match %q%s"):format(pattern, context))
      end
      if want.check then want.check(out) end
    end)
  end
end)
