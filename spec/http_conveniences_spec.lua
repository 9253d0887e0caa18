-- tide.http's conveniences (DESIGN.md "HTTP conveniences") against real
-- servers on loopback: decompression and the body limit, Retry-After,
-- client hooks, Unix sockets, cookie jars.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http
local http_escape = require("tide.core").http_escape
local MiB = 1024 * 1024
local SLOW = helper.SLOW
local run = helper.run_slow
local rejection, key = helper.rejection, helper.key

local ngx, flt

local clients = {}
local function close_clients()
  for i = #clients, 1, -1 do
    pcall(clients[i].close, clients[i])
    clients[i] = nil
  end
end
local function new_client(opts)
  local c = http.client(opts)
  clients[#clients + 1] = c
  finally(close_clients)
  return c
end

local function hits(k)
  return tonumber(http.get(flt.url .. "/hits?key=" .. k):await().body)
end

local function status_mib(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

-- Runs fn and returns how far the peak RSS rose above the RSS before it
-- (nil where the peak cannot be reset: /proc/self/clear_refs).
local function peak_growth(fn)
  collectgarbage()
  local f = io.open("/proc/self/clear_refs", "w")
  local reset = f and f:write("5") and f:close()
  local before = status_mib("VmRSS")
  fn()
  return reset and status_mib("VmHWM") - before or nil
end

describe("tide.http conveniences", function()
  lazy_setup(function()
    ngx = servers.nginx()
    flt = servers.faults()
  end)
  lazy_teardown(function()
    servers.stop_all()
  end)
  helper.setup()

  describe("decompression", function()
    it("is on by default; decompress = false gives the bytes as sent", function()
      run(function()
        local res = http.get(flt.url .. "/gzip-bomb?mb=1"):await()
        assert.equal("gzip", res.headers["content-encoding"])
        assert.equal(MiB, #res.body)
        assert.equal(string.rep("\0", MiB), res.body)
        local raw = http.get(flt.url .. "/gzip-bomb?mb=1", { decompress = false }):await()
        assert.equal(tonumber(raw.headers["content-length"]), #raw.body)
        assert.is_true(#raw.body < 16 * 1024)
        assert.equal("\31\139", raw.body:sub(1, 2)) -- the gzip magic
      end)
    end)

    it("max_body_size counts decompressed bytes: a gzip bomb stops at the limit (buffered)", function()
      run(function()
        local url = flt.url .. "/gzip-bomb?mb=16"
        local err
        local grew = peak_growth(function() err = rejection(http.get(url, { max_body_size = MiB })) end)
        assert.is_true(tide.is_error(err, "body_too_large"), tostring(err))
        assert.equal(("the response body of %s is larger than %d bytes"):format(url, MiB), err.message)
        assert.equal(MiB, err.limit)
        if grew and helper.RSS_MEANINGFUL then
          assert.is_true(grew < 8, ("the peak RSS rose by %.1f MiB"):format(grew))
        end
      end)
    end)

    it("max_body_size counts decompressed bytes with stream = true, also when nobody reads for a while", function()
      run(function()
        local total, ok, err = 0, nil, nil
        local grew = peak_growth(function()
          ok, err = tide.pawait(tide.spawn(function()
            local res <close> = http.get(flt.url .. "/gzip-bomb?mb=16", { max_body_size = MiB, stream = true }):await()
            local chunks = res:chunks()
            tide.sleep(0.2):await() -- nobody reads for a while
            for chunk in chunks do total = total + #chunk end
          end))
        end)
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "body_too_large"), tostring(err))
        assert.is_true(total <= MiB, "read " .. total .. " bytes")
        if grew and helper.RSS_MEANINGFUL then
          assert.is_true(grew < 8, ("the peak RSS rose by %.1f MiB"):format(grew))
        end
      end)
    end)
  end)

  describe("client retry and Retry-After", function()
    local function delays(c, path)
      local seen = {}
      c.retry.on_retry = function(_, _, delay) seen[#seen + 1] = delay end
      local t0 = tide.now()
      local res = c:get(path):await()
      return res, seen, tide.now() - t0
    end

    it("waits the seconds a 503's Retry-After asks for", function()
      run(function()
        local k = key("ra-secs")
        local c = new_client { base_url = flt.url, retry = { attempts = 3, base = 0.01, max = 5, jitter = 0 } }
        local res, seen, took = delays(c, "/flaky?fail=1&status=503&retry_after=1&key=" .. k)
        assert.equal(200, res.status)
        assert.same({ 1 }, seen)
        assert.is_true(took >= 0.95, "took " .. took)
        assert.equal(2, hits(k))
      end)
    end)

    it("reads an HTTP date on a 429", function()
      run(function()
        local k = key("ra-date")
        local c = new_client { base_url = flt.url, retry = { attempts = 2, base = 0.01, max = 10, jitter = 0 } }
        local res, seen = delays(c, "/flaky?fail=1&status=429&retry_after_date=3&key=" .. k)
        assert.equal(200, res.status)
        -- The date has whole seconds, and a clock second may pass.
        assert.is_true(seen[1] >= 1 and seen[1] <= 3, "delay " .. tostring(seen[1]))
      end, 15)
    end)

    it("is capped by the retry's max", function()
      run(function()
        local k = key("ra-cap")
        local c = new_client { base_url = flt.url, retry = { attempts = 3, base = 0.01, max = 0.2, jitter = 0 } }
        local res, seen, took = delays(c, "/flaky?fail=2&status=503&retry_after=3600&key=" .. k)
        assert.equal(200, res.status)
        assert.same({ 0.2, 0.2 }, seen)
        assert.is_true(took < 2 * SLOW, "took " .. took)
      end)
    end)

    it("a date in the past retries at once; other statuses and malformed values keep the backoff", function()
      run(function()
        local c = new_client { base_url = flt.url, retry = { attempts = 2, base = 0.05, max = 1, jitter = 0 } }
        local _, seen = delays(c, "/flaky?fail=1&status=503&retry_after_date=-100&key=" .. key("ra-past"))
        assert.same({ 0 }, seen)
        _, seen = delays(c, "/flaky?fail=1&status=502&retry_after=1&key=" .. key("ra-502"))
        assert.same({ 0.05 }, seen)
        _, seen = delays(c, "/flaky?fail=1&status=503&retry_after=soon&key=" .. key("ra-bad"))
        assert.same({ 0.05 }, seen)
        _, seen = delays(c, "/flaky?fail=1&status=503&retry_after=" .. http_escape("Sun Nov  6 08:49:37 1994")
          .. "&key=" .. key("ra-asctime"))
        assert.same({ 0 }, seen)
      end)
    end)
  end)

  describe("client hooks", function()
    it("on_request may await and change headers; on_response sees the response and the request", function()
      run(function()
        local seen = {}
        local c = new_client { base_url = flt.url, headers = { ["X-Default"] = "d", ["X-Drop"] = "gone" },
          on_request = function(req)
            tide.sleep(0.01):await() -- fetching a token, say
            seen[#seen + 1] = req.method .. " " .. req.url
            req.headers.Authorization = "Bearer t0k3n"
            req.headers["X-Drop"] = nil
          end,
          on_response = function(res, req)
            tide.sleep(0):await()
            seen[#seen + 1] = res.status .. " " .. req.headers.Authorization
          end }
        local body = c:post("/echo", { body = "hi", headers = { ["X-Req"] = "r" } }):await():json()
        assert.equal("Bearer t0k3n", body.headers.authorization)
        assert.equal("d", body.headers["x-default"])
        assert.equal("r", body.headers["x-req"])
        assert.is_nil(body.headers["x-drop"])
        assert.is_nil(body.headers["content-type"]) -- still removed for a plain body
        assert.same({ "POST " .. flt.url .. "/echo", "200 Bearer t0k3n" }, seen)
      end)
    end)

    it("run once per attempt when the client retries", function()
      run(function()
        local n, statuses = 0, {}
        local c = new_client { base_url = flt.url, retry = { attempts = 3, base = 0.01, jitter = 0 },
          on_request = function(req) n = n + 1; req.headers["X-Attempt"] = n end,
          on_response = function(res) statuses[#statuses + 1] = res.status end }
        assert.equal(200, c:get("/flaky?fail=2&key=" .. key("hook-retry")):await().status)
        assert.equal(3, n)
        assert.same({ 503, 503, 200 }, statuses)
      end)
    end)

    it("an error in a hook rejects the request with that error, unchanged", function()
      run(function()
        local mine = { "my error" }
        local k = key("hook-err")
        local c = new_client { base_url = flt.url, on_request = function() error(mine) end }
        assert.equal(mine, rejection(c:get("/echo?key=" .. k)))
        assert.equal(0, hits(k))
        local e = tide.error("http", "refused by hook")
        local c2 = new_client { base_url = flt.url, on_response = function() tide.sleep(0):await(); error(e) end }
        assert.equal(e, rejection(c2:get("/echo")))
      end)
    end)

    it("a header a hook sets is checked as any header", function()
      run(function()
        local c = new_client { base_url = flt.url, on_request = function(req) req.headers["X-Bad"] = "a\r\nB: c" end }
        local err = rejection(c:get("/echo"))
        assert.is_true(tide.is_error(err, "usage"), tostring(err))
        assert.matches("header injection", err.message, 1, true)
      end)
    end)

    it("cancelling the request stops the hook or the transfer", function()
      run(function()
        local k = key("hook-cancel")
        local c = new_client { base_url = flt.url, on_request = function() end }
        local p = c:get("/never?key=" .. k)
        tide.sleep(0.1):await()
        p:cancel()
        assert.is_true(tide.is_error(rejection(p), "cancelled"))
        assert.is_true(helper.wait_for(function()
          return http.get(flt.url .. "/state?key=" .. k):await():json().state == "closed"
        end))
      end)
    end)

    it("hooks must be functions", function()
      assert.matches("on_request", helper.misuse(function() http.client { on_request = 1 } end))
    end)
  end)

  describe("multipart", function()
    local dir
    local function spit(path, data)
      local f = assert(io.open(path, "wb"))
      f:write(data)
      f:close()
    end
    local function adler32(str)
      local a, b = 1, 0
      for i = 1, #str do
        a = (a + str:byte(i)) % 65521
        b = (b + a) % 65521
      end
      return (b << 16) | a
    end
    before_each(function() dir = helper.tmpdir() end)
    after_each(function() os.execute("rm -rf " .. dir) end)

    it("sends values and files (read by libcurl) that arrive exactly, with progress", function()
      run(function()
        local big = servers.pattern(3 * MiB + 7)
        spit(dir .. "/big.bin", big)
        spit(dir .. "/notes.txt", "line one\r\nline two\n")
        local ul_total = 0
        local res = http.post(flt.url .. "/multipart", {
          multipart = {
            { name = "title", value = "héllo wörld" },
            { name = "n", value = 42 },
            { name = "notes", file = dir .. "/notes.txt" },
            { name = "blob", file = dir .. "/big.bin", filename = "data.bin", content_type = "application/x-test" },
            { name = "empty", value = "" },
          },
          on_progress = function(_, _, _, total) if total > ul_total then ul_total = total end end,
        }):await()
        assert.equal(200, res.status)
        local got = res:json()
        assert.matches("^multipart/form%-data; boundary=", got.content_type)
        local parts = got.parts
        assert.equal(5, #parts)
        assert.same({ "title", "n", "notes", "blob", "empty" },
          { parts[1].name, parts[2].name, parts[3].name, parts[4].name, parts[5].name })
        -- The server sends the bytes as latin-1 text (JSON encodes it as UTF-8).
        local function bytes(t)
          local out = {}
          for _, cp in utf8.codes(t) do out[#out + 1] = string.char(cp) end
          return table.concat(out)
        end
        assert.equal("héllo wörld", bytes(parts[1].data))
        assert.equal(tide.json.null, parts[1].filename)
        assert.equal("42", parts[2].data)
        assert.equal("notes.txt", parts[3].filename)
        assert.equal("line one\r\nline two\n", parts[3].data)
        assert.equal("data.bin", parts[4].filename)
        assert.equal("application/x-test", parts[4].content_type)
        assert.equal(#big, parts[4].len)
        assert.equal(adler32(big), parts[4].adler32)
        assert.equal("", parts[5].data)
        assert.is_true(ul_total > #big, "progress saw " .. ul_total .. " bytes to send")
      end)
    end)

    it("a file that cannot be read rejects with an fs error; nothing is sent", function()
      run(function()
        local err = rejection(http.post(flt.url .. "/multipart", {
          multipart = { { name = "f", file = dir .. "/missing" } } }))
        assert.is_true(tide.is_error(err, "fs"), tostring(err))
        assert.equal(dir .. "/missing", err.path)
      end)
    end)

    it("misuse is a usage error", function()
      local u = flt and flt.url or "http://127.0.0.1:9"
      local cases = {
        { "non%-empty list of parts", { multipart = {} } },
        { "part 1: table expected", { multipart = { "x" } } },
        { "part 1: name expected", { multipart = { { value = "v" } } } },
        { "give one of value and file", { multipart = { { name = "a" } } } },
        { "give one of value and file", { multipart = { { name = "a", value = "v", file = "/etc/hostname" } } } },
        { "unknown field 'type'", { multipart = { { name = "a", value = "v", type = "x" } } } },
        { "CR, LF or NUL", { multipart = { { name = "a\r\nX: y", value = "v" } } } },
        { "CR, LF or NUL", { multipart = { { name = "a", file = "/etc/hostname", filename = "a\nb" } } } },
        { "CR, LF or NUL", { multipart = { { name = "a", value = "v", content_type = "text/plain\0" } } } },
        { "only one of body, json, form and multipart", { body = "x", multipart = { { name = "a", value = "v" } } } },
      }
      for _, case in ipairs(cases) do
        assert.matches(case[1], helper.misuse(function() http.post(u .. "/multipart", case[2]) end))
      end
      assert.matches("GET request cannot have a body",
        helper.misuse(function() http.get(u, { multipart = { { name = "a", value = "v" } } }) end))
    end)
  end)

  describe("unix_socket", function()
    it("talks HTTP over a Unix socket (the URL names the host and path)", function()
      run(function()
        local res = http.get("http://localhost/hello.json", { unix_socket = ngx.socket }):await()
        assert.equal(200, res.status)
        assert.equal(servers.HELLO, res.body)
        local c = new_client { base_url = "http://docker" }
        assert.equal(servers.HELLO, c:get("/hello.json", { unix_socket = ngx.socket }):await().body)
      end)
    end)

    it("a socket nobody listens on is a network error; CR/LF/NUL are refused", function()
      run(function()
        local err = rejection(http.get("http://localhost/", { unix_socket = "/nonexistent/tide.sock" }))
        assert.is_true(tide.is_error(err, "network"), tostring(err))
      end)
      assert.matches("unix_socket.-CR, LF or NUL",
        helper.misuse(function() http.get("http://localhost/", { unix_socket = "/tmp/a\0b" }) end))
      assert.matches("unix_socket.-string expected",
        helper.misuse(function() http.get("http://localhost/", { unix_socket = true }) end))
    end)
  end)

  describe("cookies", function()
    local function set(c, ...)
      local q = {}
      for i, v in ipairs { ... } do q[i] = "v=" .. http_escape(v) end
      assert.equal(200, c:get("/set-cookie?" .. table.concat(q, "&")):await().status)
    end
    -- The Cookie header sent, its pairs sorted (nil if none).
    local function sent(c, path)
      local h = c:get(path or "/echo"):await():json().headers.cookie
      if not h then return nil end
      local list = {}
      for pair in h:gmatch("[^;%s]+") do list[#list + 1] = pair end
      table.sort(list)
      return table.concat(list, "; ")
    end

    it("a client keeps its own jar; other clients and the default one never see it", function()
      run(function()
        local a = new_client { base_url = flt.url, cookies = true }
        local b = new_client { base_url = flt.url, cookies = true }
        local plain = new_client { base_url = flt.url }
        set(a, "sid=abc; Path=/", "theme=dark; HttpOnly")
        assert.equal("sid=abc; theme=dark", sent(a))
        assert.is_nil(sent(b))
        assert.is_nil(sent(plain))
        assert.is_nil(http.get(flt.url .. "/echo"):await():json().headers.cookie)
        set(b, "sid=other")
        assert.equal("sid=other", sent(b))
        assert.equal("sid=abc; theme=dark", sent(a))
      end)
    end)

    it("scopes cookies by host and path, and drops expired ones (libcurl's RFC 6265 engine)", function()
      run(function()
        local c = new_client { base_url = flt.url, cookies = true }
        set(c, "a=1; Path=/", "p=2; Path=/only")
        assert.equal("a=1", sent(c, "/echo"))
        assert.equal("a=1; p=2", sent(c, "/only/echo"))
        -- 127.0.0.2 is another host.
        assert.is_nil(c:get(flt.url2 .. "/echo"):await():json().headers.cookie)
        set(c, "a=gone; Path=/; Max-Age=0")
        assert.is_nil(sent(c, "/echo"))
      end)
    end)

    it("client:cookies() lists the jar", function()
      run(function()
        local c = new_client { base_url = flt.url, cookies = true }
        assert.same({}, c:cookies())
        set(c, "sid=abc; Path=/; HttpOnly", "long=1; Path=/x; Max-Age=3600")
        local list = c:cookies()
        table.sort(list, function(x, y) return x.name > y.name end)
        assert.equal(2, #list)
        assert.same({ name = "sid", value = "abc", domain = "127.0.0.1", path = "/", secure = false,
                      http_only = true, include_subdomains = false, expires = 0 }, list[1])
        assert.equal("long", list[2].name)
        assert.equal("/x", list[2].path)
        assert.is_true(math.abs(list[2].expires - os.time() - 3600) < 10)
        assert.same({}, new_client {}:cookies())
      end)
    end)

    it("cookies = path loads the jar from a file and saves it on close", function()
      local dir = helper.tmpdir()
      finally(function() os.execute("rm -rf " .. dir) end)
      local jar = dir .. "/jar.txt"
      run(function()
        local c = http.client { base_url = flt.url, cookies = jar }
        set(c, "sid=persisted; Path=/; Max-Age=3600")
        tide.sleep(0):await()
        c:close()
        local f = assert(io.open(jar))
        local text = f:read("a")
        f:close()
        assert.matches("sid\tpersisted", text)
        local again = new_client { base_url = flt.url, cookies = jar }
        assert.equal("sid=persisted", sent(again))
      end)
    end)

    it("cookies must be true, false or a path", function()
      assert.matches("cookies", helper.misuse(function() http.client { cookies = 1 } end))
      assert.matches("cookies", helper.misuse(function() http.client { cookies = "" } end))
      assert.matches("cookies", helper.misuse(function() http.client { cookies = "a\0b" } end))
    end)
  end)

  describe("server-sent events", function()
    local sse = require "tide.sse"

    -- Every event of `text`, fed in pieces of `size` bytes.
    local function parse(text, size)
      local p, out = sse.parser(), {}
      for i = 1, #text, size do
        for _, ev in ipairs(p:feed(text:sub(i, i + size - 1))) do out[#out + 1] = ev end
      end
      return out, p
    end

    it("parses as the HTML standard says, whatever the pieces", function()
      local text = "\239\187\191: a comment\r\n"
        .. "data: one\r\ndata:two\r\n\r\n" -- CRLF; "data:two" has no space to drop
        .. "event: add\rid: 7\rdata:  x\r\r" -- CR; one leading space dropped
        .. "data\nretry: 1500\nretry: soon\n\n" -- a field without a colon; a bad retry ignored
        .. "id\n\n" -- no data: nothing dispatched, but the ID is reset
        .. "data: after\nunknown: field\n\n"
        .. "data: cut short"
      for _, size in ipairs { #text, 1, 2, 3, 7 } do
        local evs, p = parse(text, size)
        assert.same({
          { event = "message", data = "one\ntwo" },
          { event = "add", data = " x", id = "7" },
          { event = "message", data = "", id = "7", retry = 1500 },
          { event = "message", data = "after", id = "", retry = 1500 },
        }, evs, "pieces of " .. size)
        assert.equal("", p.last_id)
        assert.equal(1500, p.retry)
      end
    end)

    it("a BOM counts only at the start; an id with NUL is ignored", function()
      local evs = parse("data: a\n\n\239\187\191data: b\n\nid: x\0y\ndata: c\n\n", 1)
      assert.equal(2, #evs)
      assert.equal("a", evs[1].data)
      assert.is_nil(evs[2].id)
      assert.equal("c", evs[2].data)
    end)

    it("res:events() on a stream = true response", function()
      run(function()
        local res <close> = http.get(flt.url .. "/sse?n=3&drop=100&key=" .. key("sse-res"), { stream = true }):await()
        local got = {}
        for ev in res:events() do got[#got + 1] = ev.event .. " " .. (ev.id or "-") .. " " .. ev.data end
        assert.same({ "message 1 event 1\nline 2", "message 2 event 2\nline 2", "message 3 event 3\nline 2",
                      "done 3 bye" }, got)
        assert.matches("with stream = true", helper.misuse(function()
          http.get(flt.url .. "/echo"):await():events()
        end))
      end)
    end)

    it("event_source reconnects after a drop with Last-Event-ID, after the server's retry", function()
      run(function()
        local k = key("sse")
        local got, opens = {}, 0
        local t0 = tide.now()
        for ev in http.event_source(flt.url .. "/sse?n=7&drop=2&retry=150&key=" .. k,
            { on_open = function() opens = opens + 1 end }) do
          if ev.event == "done" then break end
          got[#got + 1] = ev.id .. ":" .. ev.data
        end
        local took = tide.now() - t0
        assert.same({ "1:event 1\nline 2", "2:event 2\nline 2", "3:event 3\nline 2", "4:event 4\nline 2",
                      "5:event 5\nline 2", "6:event 6\nline 2", "7:event 7\nline 2" }, got)
        assert.equal(4, opens)
        local log = http.get(flt.url .. "/sse-log?key=" .. k):await():json()
        assert.same({ tide.json.null, "2", "4", "6" }, log)
        assert.is_true(took >= 3 * 0.15, "took " .. took)
      end)
    end)

    it("stops on signal= and on closing; the connection closes", function()
      run(function()
        local k = key("sse-stop")
        local ctl = tide.abort_controller()
        local es = http.event_source(flt.url .. "/sse?n=2&drop=100&hold=1&key=" .. k, { signal = ctl.signal })
        local n = 0
        local ok, err = pcall(function()
          for ev in es do
            n = n + 1
            if ev.event == "done" then ctl:abort() end
          end
        end)
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
        assert.equal(3, n)
        assert.is_true(helper.wait_for(function()
          return http.get(flt.url .. "/state?key=" .. k):await():json().state == "closed"
        end))
      end)
    end)

    it("stops when the task reading it is cancelled", function()
      run(function()
        local k = key("sse-cancel")
        local n = 0
        local p = tide.spawn(function()
          for _ in http.event_source(flt.url .. "/sse?n=1&drop=100&hold=1&key=" .. k) do n = n + 1 end
        end)
        assert.is_true(helper.wait_for(function() return n == 2 end))
        p:cancel()
        assert.is_true(tide.is_error(rejection(p), "cancelled"))
        assert.is_true(helper.wait_for(function()
          return http.get(flt.url .. "/state?key=" .. k):await():json().state == "closed"
        end))
      end)
    end)

    it("a response that is not an event stream is an http error; 204 ends the stream", function()
      run(function()
        local function first(url)
          return tide.pawait(tide.spawn(function() return http.event_source(url):pull() end))
        end
        local ok, err = first(flt.url .. "/sse?status=503&key=" .. key("sse-503"))
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "http"), tostring(err))
        assert.equal(503, err.status)
        ok, err = first(flt.url .. "/sse?ctype=text/plain&key=" .. key("sse-ctype"))
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "http"), tostring(err))
        local ok2, v = first(flt.url .. "/status/204")
        assert.is_true(ok2)
        assert.is_nil(v)
      end)
    end)

    it("gives up after max_reconnects failed connections in a row", function()
      run(function()
        local port = servers.closed_port()
        local ok, err = tide.pawait(tide.spawn(function()
          local url = ("http://127.0.0.1:%d/"):format(port)
          return http.event_source(url, { reconnect = 0.01, max_reconnects = 2 }):pull()
        end))
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "network"), tostring(err))
      end)
    end)

    it("misuse", function()
      assert.matches("string expected", helper.misuse(function() http.event_source(1) end))
      assert.matches("bogus", helper.misuse(function() http.event_source("http://127.0.0.1:9/", { bogus = 1 }) end))
      assert.matches("reconnect",
        helper.misuse(function() http.event_source("http://127.0.0.1:9/", { reconnect = -1 }) end))
      assert.matches("client", helper.misuse(function() http.event_source("http://127.0.0.1:9/", { client = {} }) end))
      assert.matches("injection", helper.misuse(function()
        http.event_source("http://127.0.0.1:9/", { headers = { X = "a\nb" } })
      end))
    end)
  end)

  describe("TLS client certificates, pinned keys and SOCKS5 proxies", function()
    local URL = "https://127.0.0.1/hello.json"
    local function mtls(extra)
      local o = { unix_socket = ngx.mtls_socket, ca_file = ngx.cert }
      for k, v in pairs(extra or {}) do o[k] = v end
      return http.get(URL, o)
    end

    it("a certificate the server's CA signed gets through (key encrypted or not)", function()
      run(function()
        local res = mtls { cert = ngx.client_cert, key = ngx.client_key, key_password = servers.KEY_PASSWORD }:await()
        assert.equal(200, res.status)
        assert.equal(servers.HELLO, res.body)
        assert.equal(200, mtls { cert = ngx.client_cert, key = ngx.client_key_plain }:await().status)
      end)
    end)

    it("without one, or with one the CA did not sign, nginx answers 400", function()
      run(function()
        local res = mtls():await()
        assert.equal(400, res.status)
        assert.matches("No required SSL certificate was sent", res.body)
        local err = rejection(tide.spawn(function() return res:raise_for_status() end))
        assert.is_true(tide.is_error(err, "http"))
        res = mtls { cert = ngx.other_cert, key = ngx.other_key }:await()
        assert.equal(400, res.status)
        assert.matches("certificate error", res.body)
      end)
    end)

    it("a wrong key password is a network error", function()
      run(function()
        local err = rejection(mtls { cert = ngx.client_cert, key = ngx.client_key, key_password = "wrong" })
        assert.is_true(tide.is_error(err, "network"), tostring(err))
      end)
    end)

    it("pinned_pubkey: the server's key matches, or the request fails", function()
      run(function()
        local pin = servers.pubkey_pin(ngx.cert)
        local res = http.get(ngx.https .. "/hello.json", { ca_file = ngx.cert, pinned_pubkey = pin }):await()
        assert.equal(200, res.status)
        local other = servers.pubkey_pin(ngx.other_cert)
        local err = rejection(http.get(ngx.https .. "/hello.json", { ca_file = ngx.cert, pinned_pubkey = other }))
        assert.is_true(tide.is_error(err, "network"), tostring(err))
        assert.equal(90, err.curl_code)
        assert.equal("CURLE_SSL_PINNEDPUBKEYNOTMATCH", err.code)
      end)
    end)

    it("socks5h:// proxies resolve the name at the proxy", function()
      run(function()
        local socks = servers.socks5()
        local url = ("http://faults.tide.test:%d/echo"):format(flt.port)
        local body = http.get(url, { proxy = socks.url }):await():json()
        assert.equal("faults.tide.test:" .. flt.port, body.headers.host)
        -- The name reached the proxy as it was (never looked up here).
        assert.same({ "faults.tide.test:" .. flt.port }, socks.requests())
        -- A destination the proxy refuses is a network error.
        local err = rejection(http.get("http://elsewhere.invalid/", { proxy = socks.url }))
        assert.is_true(tide.is_error(err, "network"), tostring(err))
      end)
    end)

    it("the new strings are refused with CR, LF or NUL", function()
      for _, k in ipairs { "cert", "key", "key_password", "pinned_pubkey" } do
        assert.matches(k .. ".-CR, LF or NUL", helper.misuse(function() http.get(URL, { [k] = "a\nb" }) end))
        assert.matches(k .. ".-string expected", helper.misuse(function() http.get(URL, { [k] = 1 }) end))
      end
    end)
  end)
end)
