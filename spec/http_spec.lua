-- tide.http against real servers on loopback: Debian's nginx (static files,
-- redirects, statuses, gzip, HTTPS with HTTP/2) and spec/support/faults.py
-- (echo, slow, never, drip, big, flaky, connection counts). Methods, query,
-- headers, bodies, responses, redirects, TLS, timeouts, max_body_size,
-- streaming (back-pressure, closing), uploads, progress, clients (base_url,
-- defaults, reuse, limits, retry, close), cancellation, many requests at
-- once, and every misuse message.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http
local MiB = 1024 * 1024

local ngx, flt -- the servers, started once for the file

-- Upper bounds on durations (and the watchdogs) stretch by helper.SLOW.
local SLOW = helper.SLOW

-- helper.run with a watchdog of `timeout` (default 10) s, stretched by SLOW.
local run = helper.run_slow

local RSS_MEANINGFUL = helper.RSS_MEANINGFUL

local key = helper.key

local rejection, wait_for = helper.rejection, helper.wait_for

-- What the fault server knows about the connection that served `k`.
local function conn_state(k)
  return http.get(flt.url .. "/state?key=" .. k):await():json()
end

local function server_saw_close(k, timeout)
  return wait_for(function() return conn_state(k).state == "closed" end, timeout)
end

local function hits(k)
  return tonumber(http.get(flt.url .. "/hits?key=" .. k):await().body)
end

local function accepted()
  return tonumber(http.get(flt.url .. "/count"):await().body)
end

-- A client that is closed when the test ends, passed or not (outside the
-- test's task: closing a client in the same loop turn as the await that
-- fulfilled with its last response frees that request twice, see "closing
-- a client right after awaiting its response" below).
-- (busted keeps one `finally` per test, hence the list.)
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

local function echo(p)
  local res = p:await()
  assert.equal(200, res.status)
  return res:json()
end

-- Adler-32 of s (what /echo reports as body_adler32).
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s, 4096 do
    local piece = { s:byte(i, math.min(i + 4095, #s)) }
    for j = 1, #piece do
      a = a + piece[j]
      b = b + a
    end
    a, b = a % 65521, b % 65521
  end
  return (b << 16) | a
end

local function rss_mib()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

local misuse = helper.misuse

describe("tide.http", function()
  lazy_setup(function()
    ngx = servers.nginx()
    flt = servers.faults()
  end)
  lazy_teardown(function()
    servers.stop_all()
  end)
  helper.setup()

  describe("methods", function()
    it("GET fulfils with status, body, headers, url and version", function()
      run(function()
        local res = http.get(ngx.http .. "/hello.json"):await()
        assert.equal(200, res.status)
        assert.equal(servers.HELLO, res.body)
        assert.equal("application/json", res.headers["content-type"])
        assert.equal(tostring(#servers.HELLO), res.headers["content-length"])
        assert.equal(ngx.http .. "/hello.json", res.url)
        assert.equal("1.1", res.http_version)
        assert.equal(("tide.http.response (200, %s/hello.json, %d bytes)"):format(ngx.http, #servers.HELLO),
          tostring(res))
      end)
    end)

    it("HEAD gets the headers and an empty body", function()
      run(function()
        local res = http.head(ngx.http .. "/16m.bin"):await()
        assert.equal(200, res.status)
        assert.equal("", res.body)
        assert.equal(tostring(16 * MiB), res.headers["content-length"])
      end)
    end)

    for _, m in ipairs { "post", "put", "patch", "delete" } do
      it(m:upper() .. " sends its method and body", function()
        run(function()
          local e = echo(http[m](flt.url .. "/echo", { body = "payload of " .. m }))
          assert.equal(m:upper(), e.method)
          assert.equal("payload of " .. m, e.body)
          assert.equal(tostring(#("payload of " .. m)), e.headers["content-length"])
        end)
      end)
    end

    it("request{} takes the method, upper-cases it, and allows custom methods", function()
      run(function()
        assert.equal("GET", echo(http.request { url = flt.url .. "/echo" }).method)
        assert.equal("POST", echo(http.request { url = flt.url .. "/echo", method = "post", body = "x" }).method)
        assert.equal("OPTIONS", echo(http.request { url = flt.url .. "/echo", method = "OPTIONS" }).method)
        assert.equal("PROPFIND", echo(http.request { url = flt.url .. "/echo", method = "propfind" }).method)
      end)
    end)

    it("DELETE without a body sends none", function()
      run(function()
        local e = echo(http.delete(flt.url .. "/echo"))
        assert.equal("DELETE", e.method)
        assert.equal(0, e.body_len)
        assert.is_nil(e.headers["transfer-encoding"])
      end)
    end)
  end)

  describe("query", function()
    it("encodes keys and values (sorted keys, lists repeated, RFC 3986 unreserved kept)", function()
      run(function()
        local e = echo(http.get(flt.url .. "/echo", {
          query = { q = "a b&c=d/é", list = { 1, "two" }, flag = true, ["k y"] = "-_.~" },
        }))
        assert.equal("flag=true&k%20y=-_.~&list=1&list=two&q=a%20b%26c%3Dd%2F%C3%A9", e.query)
        assert.same({ "a b&c=d/é" }, e.args.q)
        assert.same({ "1", "two" }, e.args.list)
      end)
    end)

    it("appends to a query already in the URL", function()
      run(function()
        assert.equal("x=1&y=2", echo(http.get(flt.url .. "/echo?x=1", { query = { y = 2 } })).query)
      end)
    end)

    it("leaves the URL alone for an empty query", function()
      run(function()
        local res = http.get(flt.url .. "/echo", { query = {} }):await()
        assert.equal(flt.url .. "/echo", res.url)
        assert.equal("", res:json().query)
      end)
    end)
  end)

  describe("headers", function()
    it("sends request headers (string and number values)", function()
      run(function()
        local e = echo(http.get(flt.url .. "/echo", { headers = { ["X-Token"] = "secret", ["X-Number"] = 42 } }))
        assert.equal("secret", e.headers["x-token"])
        assert.equal("42", e.headers["x-number"])
      end)
    end)

    it("looks response headers up in any case", function()
      run(function()
        local res = http.get(flt.url .. "/headers"):await()
        assert.equal("Yes", res.headers["x-camelcase"])
        assert.equal("Yes", res.headers["X-CamelCase"])
        assert.equal("Yes", res.headers["X-CAMELCASE"])
        assert.is_nil(res.headers["x-absent"])
      end)
    end)

    it("joins repeated headers with ', ' and lists them with header_values", function()
      run(function()
        local res = http.get(flt.url .. "/headers"):await()
        assert.equal("one, two", res.headers["x-multi"])
        assert.equal("a=1; Path=/, b=2; HttpOnly", res.headers["set-cookie"])
        assert.same({ "a=1; Path=/", "b=2; HttpOnly", n = 2 }, res:header_values("set-cookie"))
        assert.same({ "a=1; Path=/", "b=2; HttpOnly", n = 2 }, res:header_values("Set-Cookie"))
        assert.same({ "one", "two", n = 2 }, res:header_values("X-Multi"))
        assert.same({ n = 0 }, res:header_values("x-absent"))
      end)
    end)

    it("gives the headers of the final response after redirects", function()
      run(function()
        local res = http.get(ngx.http .. "/redirect"):await()
        assert.is_nil(res.headers.location)
        assert.equal("application/json", res.headers["content-type"])
        assert.same({ n = 0 }, res:header_values("location"))
      end)
    end)

    it("HTTP/2 headers are looked up the same way", function()
      run(function()
        local res = http.get(ngx.https .. "/hello.json", { ca_file = ngx.cert }):await()
        assert.equal("2", res.http_version)
        assert.equal("application/json", res.headers["Content-Type"])
        assert.same({ tostring(#servers.HELLO), n = 1 }, res:header_values("Content-Length"))
      end)
    end)
  end)

  describe("bodies", function()
    it("json= encodes the value and sets Content-Type: application/json", function()
      run(function()
        local e = echo(http.post(flt.url .. "/echo", { json = { name = "ada", tags = { "x", "y" } } }))
        assert.equal("application/json", e.headers["content-type"])
        assert.same({ name = "ada", tags = { "x", "y" } }, require("cjson").decode(e.body))
      end)
    end)

    it("form= url-encodes pairs and sets the form Content-Type", function()
      run(function()
        local e = echo(http.post(flt.url .. "/echo", { form = { b = "x y", a = 1, list = { "p", "q" } } }))
        assert.equal("application/x-www-form-urlencoded", e.headers["content-type"])
        assert.equal("a=1&b=x%20y&list=p&list=q", e.body)
      end)
    end)

    it("keeps a Content-Type the caller gave with json=", function()
      run(function()
        local e = echo(http.post(flt.url .. "/echo", {
          json = { 1 }, headers = { ["content-type"] = "application/vnd.api+json" } }))
        assert.equal("application/vnd.api+json", e.headers["content-type"])
      end)
    end)

    it("does not label a plain string body as a form", function()
      run(function()
        local e = echo(http.post(flt.url .. "/echo", { body = "just text" }))
        assert.equal("just text", e.body)
        assert.are_not.equal("application/x-www-form-urlencoded", e.headers["content-type"],
          "a raw body was sent as a form (libcurl's default for POSTFIELDS)")
        local sent = false
        e = echo(http.post(flt.url .. "/echo", { body = function()
          if not sent then
            sent = true
            return "streamed text"
          end
        end }))
        assert.equal("streamed text", e.body)
        assert.are_not.equal("application/x-www-form-urlencoded", e.headers["content-type"],
          "a streamed body was sent as a form")
      end)
    end)

    it("sends binary bodies (NUL bytes included) and large ones exactly", function()
      run(function()
        local bin = servers.pattern(1000) .. "\0\0end"
        local e = echo(http.put(flt.url .. "/echo", { body = bin }))
        assert.equal(#bin, e.body_len)
        assert.equal(adler32(bin), e.body_adler32)
        local big = servers.pattern(5 * MiB + 3)
        e = echo(http.post(flt.url .. "/echo", { body = big }))
        assert.equal(#big, e.body_len)
        assert.equal(adler32(big), e.body_adler32)
      end)
    end)

    it("sends an empty body with Content-Length: 0", function()
      run(function()
        local e = echo(http.post(flt.url .. "/echo", { body = "" }))
        assert.equal("0", e.headers["content-length"])
        assert.equal(0, e.body_len)
      end)
    end)
  end)

  describe("responses", function()
    it("methods check what they are called on", function()
      run(function()
        local res = http.get(ngx.http .. "/hello.json"):await()
        for _, m in ipairs { "ok", "json", "raise_for_status", "header_values", "chunks", "lines", "close" } do
          assert.has_error(function() res[m](42) end, ("bad argument #1 to '%s' (tide.http.response expected; "
            .. "call it as res:%s(...))"):format(m, m))
        end
        assert.has_error(function() res:header_values(42) end,
          "bad argument #1 to 'header_values' (string expected, got number)")
      end)
    end)

    it("res:json() decodes the body", function()
      run(function()
        assert.same({ hello = "world", n = 42, list = { 1, 2, 3 } }, http.get(ngx.http .. "/hello.json"):await():json())
      end)
    end)

    it("res:json() raises a json error for a body that is not JSON", function()
      run(function()
        local res = http.get(ngx.http .. "/bad.json"):await()
        local ok, err = pcall(res.json, res)
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "json"))
        local prefix = ("the body from %s/bad.json is not valid JSON: "):format(ngx.http)
        assert.equal(prefix, err.message:sub(1, #prefix))
        assert.equal(ngx.http .. "/bad.json", err.url)
        assert.equal('{"hello": ', err.body)
      end)
    end)

    it("any status fulfils; res:ok() is true for 2xx only", function()
      run(function()
        for _, code in ipairs { 200, 201, 204, 400, 404, 418, 500, 503 } do
          local res = http.get(ngx.http .. "/status/" .. code):await()
          assert.equal(code, res.status)
          assert.equal(code >= 200 and code < 300, res:ok())
          if code ~= 204 then assert.equal(("status %d\n"):format(code), res.body) end
        end
        assert.is_false(http.get(ngx.http .. "/redirect", { follow = false }):await():ok())
      end)
    end)

    it("a 204 has an empty body", function()
      run(function()
        local res = http.get(flt.url .. "/status/204"):await()
        assert.equal(204, res.status)
        assert.equal("", res.body)
      end)
    end)

    it("raise_for_status() returns the response below 400", function()
      run(function()
        local res = http.get(ngx.http .. "/hello.json"):await()
        assert.equal(res, res:raise_for_status())
        local moved = http.get(ngx.http .. "/redirect", { follow = false }):await()
        assert.equal(moved, moved:raise_for_status())
      end)
    end)

    it("raise_for_status() raises an http error with status, url and body from 400 on", function()
      run(function()
        for _, code in ipairs { 400, 404, 500, 503 } do
          local url = ngx.http .. "/status/" .. code
          local res = http.get(url):await()
          local ok, err = pcall(res.raise_for_status, res)
          assert.is_false(ok)
          assert.is_true(tide.is_error(err, "http"))
          assert.equal(code, err.status)
          assert.equal(url, err.url)
          assert.equal(("status %d\n"):format(code), err.body)
          assert.equal(("HTTP %d from %s"):format(code, url), err.message)
          assert.equal(("http: HTTP %d from %s"):format(code, url), tostring(err))
        end
      end)
    end)

    it("timings has dns, connect, tls, first_byte and total in seconds", function()
      run(function()
        local t = http.get(ngx.http .. "/hello.json"):await().timings
        for _, k in ipairs { "dns", "connect", "tls", "first_byte", "total" } do
          assert.is_number(t[k], k)
          assert.is_true(t[k] >= 0 and t[k] < 5, k .. " = " .. tostring(t[k]))
        end
        assert.equal(0, t.tls)
        assert.is_true(t.total >= t.first_byte)
        assert.is_true(t.total > 0)
        local s = http.get(ngx.https .. "/hello.json", { ca_file = ngx.cert }):await().timings
        assert.is_true(s.tls > 0, "an HTTPS request's tls time is > 0")
        assert.is_true(s.total >= s.tls + s.connect)
      end)
    end)

    it("decompresses gzip bodies by default", function()
      run(function()
        local res = http.get(ngx.http .. "/lines.txt"):await()
        assert.equal("gzip", res.headers["content-encoding"])
        assert.equal(table.concat(servers.lines(), "\n") .. "\n", res.body)
        local raw = http.get(ngx.http .. "/lines.txt", { decompress = false }):await()
        assert.is_nil(raw.headers["content-encoding"])
        assert.equal(res.body, raw.body)
      end)
    end)

    it("gives an empty string for an empty file", function()
      run(function()
        assert.equal("", http.get(ngx.http .. "/empty.txt"):await().body)
      end)
    end)
  end)

  describe("redirects", function()
    it("follows them; .url is where the body came from", function()
      run(function()
        local res = http.get(ngx.http .. "/redirect"):await()
        assert.equal(200, res.status)
        assert.equal(servers.HELLO, res.body)
        assert.equal(ngx.http .. "/hello.json", res.url)
      end)
    end)

    it("follow=false gives the redirect itself", function()
      run(function()
        local res = http.get(ngx.http .. "/redirect", { follow = false }):await()
        assert.equal(302, res.status)
        assert.equal(ngx.http .. "/hello.json", res.headers.location)
        assert.equal(ngx.http .. "/redirect", res.url)
      end)
    end)

    it("follows up to 10 by default; the 11th is a too_many_redirects error", function()
      run(function()
        assert.equal(ngx.http .. "/hello.json", http.get(ngx.http .. "/chain/10"):await().url)
        local err = rejection(http.get(ngx.http .. "/chain/11"))
        assert.is_true(tide.is_error(err, "too_many_redirects"))
        assert.equal(47, err.curl_code)
        assert.equal("CURLE_TOO_MANY_REDIRECTS", err.code)
        assert.equal(ngx.http .. "/chain/1", err.url)
        assert.equal(ngx.http .. "/chain/1: Maximum (10) redirects followed", err.message)
      end)
    end)

    it("max_redirects sets the limit", function()
      run(function()
        assert.equal(200, http.get(ngx.http .. "/chain/3", { max_redirects = 3 }):await().status)
        local err = rejection(http.get(ngx.http .. "/chain/4", { max_redirects = 3 }))
        assert.is_true(tide.is_error(err, "too_many_redirects"))
        assert.is_true(tide.is_error(rejection(http.get(ngx.http .. "/redirect", { max_redirects = 0 })),
          "too_many_redirects"))
      end)
    end)

    it("a redirect loop is a too_many_redirects error", function()
      run(function()
        local err = rejection(http.get(ngx.http .. "/redirect-loop"))
        assert.is_true(tide.is_error(err, "too_many_redirects"))
        assert.equal(ngx.http .. "/redirect-loop", err.url)
      end)
    end)

    it("refuses to follow a redirect to a scheme other than http and https", function()
      run(function()
        local err = rejection(http.get(ngx.http .. "/to-ftp"))
        assert.is_true(tide.is_error(err, "network"))
        assert.equal(1, err.curl_code)
        assert.equal("CURLE_UNSUPPORTED_PROTOCOL", err.code)
        assert.equal(("ftp://127.0.0.1:%d/hello.json"):format(ngx.http_port), err.url)
      end)
    end)

    it("the client stays usable after a refused redirect", function()
      run(function()
        local c = new_client()
        for _ = 1, 3 do
          assert.is_true(tide.is_error(rejection(c:get(ngx.http .. "/to-ftp")), "network"))
          local ok, res = tide.pawait(c:get(ngx.http .. "/hello.json"))
          assert.is_true(ok, "a request after the refused redirect failed: " .. tostring(res))
          assert.equal(200, res.status)
        end
      end)
    end)

    it("follows a redirect to HTTPS, verifying it", function()
      run(function()
        local err = rejection(http.get(ngx.http .. "/to-https"))
        assert.is_true(tide.is_error(err, "network"))
        assert.equal("tls", err.phase)
        local res = http.get(ngx.http .. "/to-https", { ca_file = ngx.cert }):await()
        assert.equal(ngx.https .. "/hello.json", res.url)
        assert.equal(servers.HELLO, res.body)
      end)
    end)

    it("keeps credentials on the same host", function()
      run(function()
        local e = echo(http.get(flt.url .. "/redirect?to=/echo", { auth = { user = "u", password = "p" } }))
        assert.equal("Basic dTpw", e.headers.authorization)
        e = echo(http.get(flt.url .. "/redirect?to=/echo", { headers = { Authorization = "Bearer t0ken" } }))
        assert.equal("Bearer t0ken", e.headers.authorization)
      end)
    end)

    it("does not forward auth= or an Authorization header to another host", function()
      run(function()
        local e = echo(http.get(flt.url .. "/redirect-other-host?to=/echo", { auth = { user = "u", password = "p" } }))
        assert.equal("127.0.0.2", e.host)
        assert.is_nil(e.headers.authorization)
        e = echo(http.get(flt.url .. "/redirect-other-host?to=/echo", {
          headers = { Authorization = "Bearer t0ken", Cookie = "session=1", ["X-Other"] = "kept" } }))
        assert.equal("127.0.0.2", e.host)
        assert.is_nil(e.headers.authorization)
        assert.is_nil(e.headers.cookie)
        assert.equal("kept", e.headers["x-other"])
      end)
    end)
  end)

  describe("TLS", function()
    it("refuses a self-signed certificate by default: a network error in phase tls", function()
      run(function()
        local err = rejection(http.get(ngx.https .. "/hello.json"))
        assert.is_true(tide.is_error(err, "network"))
        assert.equal("tls", err.phase)
        assert.equal(60, err.curl_code)
        assert.equal("CURLE_PEER_FAILED_VERIFICATION", err.code)
        assert.equal(ngx.https .. "/hello.json", err.url)
        assert.equal(ngx.https .. "/hello.json: ", err.message:sub(1, #ngx.https + 13))
      end)
    end)

    it("accepts it with ca_file, over HTTP/2", function()
      run(function()
        local res = http.get(ngx.https .. "/hello.json", { ca_file = ngx.cert }):await()
        assert.equal(200, res.status)
        assert.equal("2", res.http_version)
        assert.equal(servers.HELLO, res.body)
      end)
    end)

    it("accepts it with verify=false", function()
      run(function()
        local res = http.get(ngx.https .. "/hello.json", { verify = false }):await()
        assert.equal(servers.HELLO, res.body)
      end)
    end)

    it("http_version='1.1' keeps HTTPS on HTTP/1.1", function()
      run(function()
        assert.equal("1.1", http.get(ngx.https .. "/hello.json", { ca_file = ngx.cert, http_version = "1.1" })
          :await().http_version)
      end)
    end)

    it("checks the host name against the certificate", function()
      run(function()
        local url = ("https://localhost:%d/hello.json"):format(ngx.https_port)
        local err = rejection(http.get(url, { ca_file = ngx.cert }))
        assert.is_true(tide.is_error(err, "network"))
        assert.equal("tls", err.phase)
        assert.equal(60, err.curl_code)
        assert.equal("CURLE_PEER_FAILED_VERIFICATION", err.code)
      end)
    end)

    it("a ca_file that does not exist is a tls error", function()
      run(function()
        local err = rejection(http.get(ngx.https .. "/hello.json", { ca_file = "/nonexistent/ca.pem" }))
        assert.is_true(tide.is_error(err, "network"))
        assert.equal("tls", err.phase)
        assert.equal(77, err.curl_code)
        assert.equal("CURLE_SSL_CACERT_BADFILE", err.code)
      end)
    end)
  end)

  describe("timeouts", function()
    it("timeout= rejects with a timeout error and closes the connection", function()
      run(function()
        local k = key("timeout")
        local t0 = tide.now()
        local err = rejection(http.get(flt.url .. "/never?key=" .. k, { timeout = 0.2 }))
        local took = tide.now() - t0
        assert.is_true(tide.is_error(err, "timeout"))
        assert.equal(28, err.curl_code)
        assert.equal("CURLE_OPERATION_TIMEDOUT", err.code)
        assert.equal(flt.url .. "/never?key=" .. k, err.url)
        assert.is_true(took >= 0.19 and took < 1 * SLOW, "took " .. took)
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("a request that answers in time is not affected", function()
      run(function()
        assert.equal("slow\n", http.get(flt.url .. "/slow?ms=50", { timeout = 2 }):await().body)
      end)
    end)

    it("huge limits mean no limit, not an overflow", function()
      run(function()
        local res = http.get(flt.url .. "/echo", { timeout = 1e300, connect_timeout = 1e300,
          max_redirects = 1e300, max_body_size = 1e300 }):await()
        assert.equal(200, res.status)
      end)
    end)

    it("connect_timeout bounds connecting only", function()
      run(function()
        local t0 = tide.now()
        local err = rejection(http.get(flt.blackhole .. "/", { connect_timeout = 0.2 }))
        assert.is_true(tide.is_error(err, "timeout"))
        assert.equal(28, err.curl_code)
        assert.equal("ETIMEDOUT", err.code) -- the connect timed out (curl: CURLE_OPERATION_TIMEDOUT)
        assert.is_true(tide.now() - t0 < 1.5 * SLOW)
        -- A slow answer after a quick connect is fine.
        assert.equal(200, http.get(flt.url .. "/slow?ms=400", { connect_timeout = 0.2 }):await().status)
      end)
    end)

    it("a client's timeout applies to its requests; a request's own overrides it", function()
      run(function()
        local c = new_client { base_url = flt.url, timeout = 0.2 }
        local t0 = tide.now()
        assert.is_true(tide.is_error(rejection(c:get("/never?key=" .. key("ct"))), "timeout"))
        assert.is_true(tide.now() - t0 < 1 * SLOW)
        assert.equal(200, c:get("/slow?ms=400", { timeout = 3 * SLOW }):await().status)
      end)
    end)
  end)

  describe("max_body_size", function()
    it("rejects with body_too_large when Content-Length is over the limit", function()
      run(function()
        local url = ngx.http .. "/16m.bin"
        local err = rejection(http.get(url, { max_body_size = MiB }))
        assert.is_true(tide.is_error(err, "body_too_large"))
        assert.equal(("the response body of %s is larger than 1048576 bytes"):format(url), err.message)
        assert.equal(MiB, err.limit)
        assert.equal(url, err.url)
      end)
    end)

    it("rejects with body_too_large without Content-Length (chunked)", function()
      run(function()
        local k = key("chunkedmax")
        local url = flt.url .. "/big?mb=64&chunked=1&key=" .. k
        local err = rejection(http.get(url, { max_body_size = 1000 }))
        assert.is_true(tide.is_error(err, "body_too_large"))
        assert.equal(("the response body of %s is larger than 1000 bytes"):format(url), err.message)
        assert.is_true(server_saw_close(k))
        assert.is_true(conn_state(k).sent < 64 * MiB)
      end)
    end)

    it("allows a body of exactly the limit", function()
      run(function()
        assert.equal(servers.pattern(1024), http.get(ngx.http .. "/1k.bin", { max_body_size = 1024 }):await().body)
        assert.equal(1000, #http.get(flt.url .. "/drip?n=1000&ms=0", { max_body_size = 1000 }):await().body)
      end)
    end)

    it("applies to streamed bodies", function()
      run(function()
        local ok, err = tide.pawait(tide.spawn(function()
          local res = http.get(flt.url .. "/big?mb=8&chunked=1", { max_body_size = 100000, stream = true }):await()
          for _ in res:chunks() do end
        end))
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "body_too_large"), tostring(err))
      end)
    end)
  end)

  describe("stream=true", function()
    it("res:chunks() gives the whole body; res.body is nil", function()
      run(function()
        local res = http.get(ngx.http .. "/16m.bin", { stream = true }):await()
        assert.equal(200, res.status)
        assert.is_nil(res.body)
        assert.equal(tostring(16 * MiB), res.headers["content-length"])
        local parts = {}
        for chunk in res:chunks() do parts[#parts + 1] = chunk end
        assert.is_true(#parts > 1)
        assert.equal(servers.pattern(16 * MiB), table.concat(parts))
      end)
    end)

    it("res:chunks() works over HTTP/2", function()
      run(function()
        local res = http.get(ngx.https .. "/16m.bin", { stream = true, ca_file = ngx.cert }):await()
        assert.equal("2", res.http_version)
        local n = 0
        for chunk in res:chunks() do n = n + #chunk end
        assert.equal(16 * MiB, n)
      end)
    end)

    it("res:lines() gives every line (gzip, chunked, CRLF, no final newline)", function()
      run(function()
        local got = {}
        for line in http.get(ngx.http .. "/lines.txt", { stream = true }):await():lines() do got[#got + 1] = line end
        assert.same(servers.lines(), got)
        got = {}
        for line in http.get(flt.url .. "/chunked?n=500", { stream = true }):await():lines() do got[#got + 1] = line end
        assert.equal(500, #got)
        assert.equal("line 1", got[1])
        assert.equal("line 500", got[500])
        got = {}
        for line in http.get(ngx.http .. "/crlf.txt", { stream = true }):await():lines() do got[#got + 1] = line end
        assert.same({ "one", "two", "", "four", "no newline at the end" }, got)
        got = {}
        for line in http.get(ngx.http .. "/empty.txt", { stream = true }):await():lines() do got[#got + 1] = line end
        assert.same({}, got)
      end)
    end)

    it("res:json() and res:chunks() say how to read the body", function()
      run(function()
        local res = http.get(ngx.http .. "/hello.json", { stream = true }):await()
        assert.equal("this response is streamed: read it with res:chunks() or res:lines()",
          misuse(function() res:json() end))
        res:close()
        local plain = http.get(ngx.http .. "/hello.json"):await()
        assert.equal("res:chunks() needs a response requested with stream = true",
          misuse(function() plain:chunks() end))
        assert.equal("res:lines() needs a response requested with stream = true",
          misuse(function() plain:lines() end))
      end)
    end)

    it("keeps memory bounded: back-pressure pauses the transfer while nobody reads", function()
      run(function()
        local size_mb = SLOW == 1 and 300 or 128
        local k = key("bigstream")
        collectgarbage()
        local heap0, rss0 = collectgarbage("count") / 1024, rss_mib()
        local res = http.get(flt.url .. ("/big?mb=%d&key=%s"):format(size_mb, k), { stream = true }):await()
        -- Nobody reads for a while: the server is held back.
        tide.sleep(0.5):await()
        local sent = conn_state(k).sent
        assert.is_true(sent < 64 * MiB, ("the server sent %d bytes while nobody read"):format(sent))
        local total, n, peak_heap, peak_rss = 0, 0, 0, 0
        for chunk in res:chunks() do
          total = total + #chunk
          n = n + 1
          if n % 64 == 0 then
            peak_heap = math.max(peak_heap, collectgarbage("count") / 1024 - heap0)
            peak_rss = math.max(peak_rss, rss_mib() - rss0)
          end
        end
        assert.equal(size_mb * MiB, total)
        assert.is_true(peak_heap < 64, ("the Lua heap grew by %.1f MiB"):format(peak_heap))
        if RSS_MEANINGFUL then
          assert.is_true(peak_rss < 64, ("RSS grew by %.1f MiB for a %d MiB body"):format(peak_rss, size_mb))
        end
      end, 60)
    end)

    it("a transfer paused by back-pressure leaves the loop idle, and resumes when read", function()
      run(function()
        local size_mb = 32
        local k = key("pausedidle")
        local res = http.get(flt.url .. ("/big?mb=%d&key=%s"):format(size_mb, k), { stream = true }):await()
        local chunks = res:chunks()
        local total = #chunks:pull()
        -- Nobody reads: the transfer fills its queue and pauses; its socket
        -- must not keep waking the loop meanwhile.
        tide.sleep(0.2):await()
        local cpu0 = os.clock()
        tide.sleep(0.5):await()
        local spent = os.clock() - cpu0
        assert.is_true(spent < 0.1, ("the process spent %.2f s of CPU in 0.5 s of waiting"):format(spent))
        assert.is_true(conn_state(k).sent < size_mb * MiB, "the server was not held back")
        for chunk in chunks do total = total + #chunk end
        assert.equal(size_mb * MiB, total)
      end, 30)
    end)

    it("closing a response mid-body stops the transfer", function()
      run(function()
        local k = key("close")
        local res = http.get(flt.url .. "/big?mb=512&key=" .. k, { stream = true }):await()
        local chunks = res:chunks()
        assert.is_string(chunks:pull())
        res:close()
        assert.is_true(server_saw_close(k), "the server still sends")
        assert.is_true(conn_state(k).sent < 512 * MiB)
        assert.is_nil(chunks:pull()) -- a closed body has ended
        res:close() -- again: nothing happens
      end)
    end)

    it("a <close> response stops the transfer at the end of its block", function()
      run(function()
        local k = key("closevar")
        do
          local res <close> = http.get(flt.url .. "/big?mb=512&key=" .. k, { stream = true }):await()
          assert.is_string(res:chunks():pull())
        end
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("breaking out of a chunks loop stops the transfer", function()
      run(function()
        local k = key("break")
        local res = http.get(flt.url .. "/drip?n=100000&ms=1&key=" .. k, { stream = true }):await()
        local n = 0
        for _ in res:chunks() do
          n = n + 1
          if n == 2 then break end
        end
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("a dropped streamed response is stopped by the garbage collector", function()
      run(function()
        local k = key("gc")
        do
          local res = http.get(flt.url .. "/big?mb=512&key=" .. k, { stream = true }):await()
          assert.is_string(res:chunks():pull())
        end
        collectgarbage()
        collectgarbage()
        assert.is_true(server_saw_close(k))
      end)
    end)
  end)

  describe("streaming uploads", function()
    local parts = {}
    for i = 1, 64 do parts[i] = ("%05d"):format(i):rep(3277) end -- 64 x 16 KiB
    local whole = table.concat(parts)

    it("a function returning chunks then nil: the body arrives complete (chunked)", function()
      run(function()
        local i = 0
        local e = echo(http.post(flt.url .. "/echo", { body = function()
          i = i + 1
          return parts[i]
        end }))
        assert.equal(#whole, e.body_len)
        assert.equal(whole, e.body)
        assert.is_true(e.chunked)
        assert.equal(65, i) -- asked once more, for the nil
      end)
    end)

    it("a tide.generator that awaits between chunks", function()
      run(function()
        local e = echo(http.put(flt.url .. "/echo", { body = tide.generator(function(yield)
          for i = 1, #parts do
            if i % 8 == 0 then tide.sleep(0.001):await() end
            yield(parts[i])
          end
        end) }))
        assert.equal("PUT", e.method)
        assert.equal(#whole, e.body_len)
        assert.equal(adler32(whole), e.body_adler32)
      end)
    end)

    it("a large upload (32 MiB) arrives intact", function()
      run(function()
        local piece = servers.pattern(256 * 1024)
        local n = 0
        local e = echo(http.post(flt.url .. "/echo", { body = function()
          n = n + 1
          if n <= 128 then return piece end
        end }))
        assert.equal(32 * MiB, e.body_len)
        assert.equal(adler32(piece:rep(128)), e.body_adler32)
      end, 30)
    end)

    it("an empty upload", function()
      run(function()
        local e = echo(http.post(flt.url .. "/echo", { body = function() return nil end }))
        assert.equal(0, e.body_len)
      end)
    end)

    it("an upload source that raises rejects the request with its error", function()
      run(function()
        local err = rejection(http.post(flt.url .. "/echo", { body = function() error({ why = "source broke" }) end }))
        assert.same({ why = "source broke" }, err)
      end)
    end)

    it("an answer before the body is taken: the feeder stops and the source is closed", function()
      run(function()
        local asked, closed = 0, false
        local piece = servers.pattern(256 * 1024)
        local source = tide.stream.new(function()
          asked = asked + 1
          if asked <= 400 then return piece end -- at most 100 MiB
        end, function() closed = true end)
        local ok, res = tide.pawait(http.post(flt.url .. "/early", { body = source }))
        if ok then
          assert.equal(413, res.status)
        else
          -- The server may close before curl reads its answer.
          assert.is_true(tide.is_error(res, "network"), tostring(res))
        end
        tide.sleep(0.05):await()
        assert.is_true(asked < 400, "the source was read to its end: " .. asked)
        assert.is_true(closed, "the upload source was left open")
      end)
    end)

    it("cancelling a request whose feeder waits for room ends the feeder too", function()
      run(function()
        local piece = servers.pattern(256 * 1024)
        local asked = 0
        local ctl = tide.abort_controller()
        -- The blackhole never accepts: curl takes nothing, so the feeder
        -- fills the upload buffer and waits for room.
        local req = http.post(flt.blackhole .. "/", { signal = ctl.signal, body = function()
          asked = asked + 1
          if asked <= 400 then return piece end
        end })
        tide.sleep(0.05):await()
        local waiting = asked
        ctl:abort("enough")
        local err = rejection(req)
        assert.equal("enough", err)
        tide.sleep(0.01):await()
        assert.is_true(waiting <= 2, "the feeder did not wait for room: " .. waiting)
        assert.equal(waiting, asked) -- and it was not asked for more once stopped
        -- (helper.setup's leak check fails the test if the feeder task is left waiting)
      end)
    end)

    it("an upload source that gives a non-string rejects with a usage error", function()
      run(function()
        local err = rejection(http.post(flt.url .. "/echo", { body = function() return 42 end }))
        assert.is_true(tide.is_error(err, "usage"))
        assert.equal("an upload stream must give strings", err.message)
      end)
    end)
  end)

  describe("on_progress", function()
    it("reports growing download figures, ending at the total", function()
      run(function()
        local seen = {}
        local res = http.get(flt.url .. "/drip?n=40&ms=10", { on_progress = function(dl_now, dl_total, ul_now, ul_total)
          seen[#seen + 1] = { dl_now, dl_total, ul_now, ul_total }
        end }):await()
        assert.equal(40, #res.body)
        assert.is_true(#seen >= 3, "only " .. #seen .. " reports")
        for i = 2, #seen do assert.is_true(seen[i][1] >= seen[i - 1][1]) end
        assert.is_true(seen[1][1] < 40)
        assert.same({ 40, 40, 0, 0 }, seen[#seen])
      end)
    end)

    it("reports upload figures", function()
      run(function()
        local last
        local body = ("u"):rep(3 * MiB)
        http.post(flt.url .. "/echo", { body = body, on_progress = function(_, _, ul_now, ul_total)
          last = { ul_now, ul_total }
        end }):await()
        assert.same({ #body, #body }, last)
      end)
    end)

    it("an error in the callback is reported, not lost, and does not break the request", function()
      run(function()
        local reported = {}
        local previous = tide.on_unhandled(function(e) reported[#reported + 1] = e end)
        local ok, res = tide.pawait(http.get(ngx.http .. "/hello.json", { on_progress = function()
          error("progress broke", 0)
        end }))
        tide.sleep(0.01):await()
        tide.on_unhandled(previous)
        if ok then
          assert.equal(200, res.status)
          assert.is_true(#reported >= 1, "the callback's error was lost")
        else
          assert.is_truthy(tostring(res):find("progress broke", 1, true))
        end
      end)
    end)
  end)

  describe("clients", function()
    it("joins relative paths to base_url with one '/'", function()
      run(function()
        for _, case in ipairs {
          { flt.url, "/echo" }, { flt.url .. "/", "/echo" }, { flt.url .. "//", "echo" }, { flt.url, "echo" },
        } do
          local c = new_client { base_url = case[1] }
          local res = c:get(case[2]):await()
          assert.equal(flt.url .. "/echo", res.url)
        end
        local c = new_client { base_url = flt.url .. "/api/v1/" }
        assert.equal("/api/v1/echo", c:get("/echo"):await():json().path)
        assert.equal("/api/v1/echo", c:request { url = "echo" }:await():json().path)
        -- An absolute URL ignores base_url.
        assert.equal(servers.HELLO, c:get(ngx.http .. "/hello.json"):await().body)
      end)
    end)

    it("sends default headers; a request's header of the same name replaces the default", function()
      run(function()
        local c = new_client { base_url = flt.url, headers = { ["X-Team"] = "core", ["X-Token"] = "default" } }
        local e = echo(c:get("/echo", { headers = { ["X-Extra"] = "1" } }))
        assert.equal("core", e.headers["x-team"])
        assert.equal("default", e.headers["x-token"])
        assert.equal("1", e.headers["x-extra"])
        e = echo(c:get("/echo", { headers = { ["x-token"] = "mine" } }))
        assert.equal("mine", e.headers["x-token"])
      end)
    end)

    it("reuses one connection for sequential requests", function()
      run(function()
        local before = accepted() -- this opens one connection (the default client's)
        local c = new_client { base_url = flt.url }
        for i = 1, 50 do assert.equal(tostring(i), c:get("/echo?i=" .. i):await():json().args.i[1]) end
        assert.equal(before + 1, tonumber(c:get("/count"):await().body))
      end)
    end)

    -- The delay of /slow in the next tests.
    local D_MS = 150 * SLOW
    local D = D_MS / 1000

    it("max_connections=1 serializes concurrent requests on one connection", function()
      run(function()
        local function burst(opts)
          local before = accepted()
          local c = new_client(opts)
          local t0 = tide.now()
          local ps = {}
          for i = 1, 4 do ps[i] = c:get(("%s/slow?ms=%d"):format(flt.url, D_MS)) end
          for _, r in ipairs(tide.all(ps):await()) do assert.equal(200, r.status) end
          local took = tide.now() - t0
          return took, accepted() - before
        end
        local free_took, free_conns = burst {}
        local one_took, one_conns = burst { max_connections = 1 }
        assert.is_true(free_took < 3 * D, "unlimited took " .. free_took)
        assert.equal(4, free_conns)
        assert.is_true(one_took >= 3.7 * D, "max_connections=1 took " .. one_took)
        assert.equal(1, one_conns)
      end)
    end)

    it("max_per_host limits each host, not the total", function()
      run(function()
        local before = accepted()
        local c = new_client { max_per_host = 1 }
        local t0 = tide.now()
        local ps = {}
        for i = 1, 2 do
          ps[#ps + 1] = c:get(("%s/slow?ms=%d&i=%d"):format(flt.url, D_MS, i))
          ps[#ps + 1] = c:get(("%s/slow?ms=%d&i=%d"):format(flt.url2, D_MS, i))
        end
        tide.all(ps):await()
        local took = tide.now() - t0
        assert.is_true(took >= 1.85 * D and took < 3 * D, "took " .. took)
        assert.equal(2, accepted() - before)
      end)
    end)

    it("HTTP/2 carries many concurrent requests", function()
      run(function()
        local c = new_client { base_url = ngx.https }
        local ps = {}
        for i = 1, 100 do ps[i] = c:get("/hello.json", { ca_file = ngx.cert }) end
        for _, r in ipairs(tide.all(ps):await()) do
          assert.equal("2", r.http_version)
          assert.equal(servers.HELLO, r.body)
        end
      end)
    end)

    describe("retry", function()
      local policy = { attempts = 3, base = 0.01, jitter = 0 }

      it("a failing endpoint succeeds on a later attempt", function()
        run(function()
          local k = key("flaky")
          local c = new_client { base_url = flt.url, retry = policy }
          local res = c:get("/flaky?fail=2&key=" .. k):await()
          assert.equal(200, res.status)
          assert.equal("ok after 2\n", res.body)
          assert.equal(3, hits(k))
        end)
      end)

      it("429, 502, 503 and 504 are retried; the last answer is returned", function()
        run(function()
          local c = new_client { base_url = flt.url, retry = policy }
          for _, code in ipairs { 429, 502, 503, 504 } do
            local k = key("status" .. code)
            local res = c:get(("/flaky?fail=9&status=%d&key=%s"):format(code, k)):await()
            assert.equal(code, res.status)
            assert.equal(3, hits(k))
          end
        end)
      end)

      it("other statuses are not retried", function()
        run(function()
          local c = new_client { base_url = flt.url, retry = policy }
          for _, code in ipairs { 400, 404, 500 } do
            local k = key("noretry" .. code)
            assert.equal(code, c:get(("/flaky?fail=2&status=%d&key=%s"):format(code, k)):await().status)
            assert.equal(1, hits(k))
          end
        end)
      end)

      it("network errors are retried, and the last one is what the caller sees", function()
        run(function()
          local k = key("closed")
          local retried = {}
          local c = new_client { base_url = flt.url, retry = { attempts = 3, base = 0.01, jitter = 0,
            on_retry = function(err, attempt) retried[#retried + 1] = { err.kind, attempt } end } }
          local err = rejection(c:get("/closed?key=" .. k))
          assert.is_true(tide.is_error(err, "network"))
          assert.equal(52, err.curl_code)
          assert.equal("CURLE_GOT_NOTHING", err.code)
          assert.equal(3, hits(k))
          assert.same({ { "network", 1 }, { "network", 2 } }, retried)
        end)
      end)

      it("errors that are not transient are not retried", function()
        run(function()
          local k = key("toolarge")
          local c = new_client { base_url = flt.url, retry = policy }
          local err = rejection(c:get("/big?mb=1&key=" .. k, { max_body_size = 100 }))
          assert.is_true(tide.is_error(err, "body_too_large"))
          assert.equal(1, hits(k))
        end)
      end)

      it("a request's retry= works on the default client too", function()
        run(function()
          local k = key("reqretry")
          assert.equal(200, http.get(flt.url .. "/flaky?fail=1&key=" .. k, { retry = policy }):await().status)
          assert.equal(2, hits(k))
        end)
      end)
    end)

    it("close() closes the pooled connections; using the client afterwards is an error", function()
      run(function()
        local c = new_client { base_url = flt.url }
        assert.equal(200, c:get("/echo"):await().status)
        tide.sleep(0):await() -- see the double-free test below
        c:close()
        c:close() -- twice is fine
        assert.equal("attempt to use a closed tide.http.client", misuse(function() c:get("/echo") end))
      end)
    end)

    it("close() with requests in flight cancels them", function()
      run(function()
        local c = new_client { base_url = flt.url }
        local p = c:get("/slow?ms=100")
        c:close()
        assert.is_true(tide.is_error(rejection(p), "cancelled"))
      end)
    end)

    it("close() after a streamed body has fully arrived leaves that body readable", function()
      run(function()
        local c = new_client { base_url = flt.url }
        local res = c:get("/chunked?n=5", { stream = true }):await()
        tide.sleep(0.05):await() -- the transfer ends; its body waits to be read
        c:close()
        local lines = res:lines():collect():await()
        assert.equal(5, lines.n)
        assert.equal("line 5", lines[5])
      end)
    end)

    it("closing a client right after awaiting its response frees nothing twice", function()
      -- In a fresh process: the failure is a crash (double free) or a hang.
      local out, status = helper.lua(([[
        local tide = require "tide"
        tide.run(function()
          local c = tide.http.client()
          local res = c:get(%q):await()
          c:close()
          local again = tide.http.get(%q):await()
          print("ok", res.status, again.status)
        end)
      ]]):format(flt.url .. "/echo", flt.url .. "/echo"))
      assert.equal("ok\t200\t200\n", out)
      assert.equal(0, status)
    end)

    it("tide.http.close() inside a task, right after a response, leaves the module usable", function()
      local out, status = helper.lua(([[
        local tide = require "tide"
        tide.run(function()
          local a = tide.http.get(%q):await()
          tide.http.close()
          local b = tide.http.get(%q):await()
          print("ok", a.status, b.status)
        end)
      ]]):format(flt.url .. "/echo", flt.url .. "/echo"))
      assert.equal("ok\t200\t200\n", out)
      assert.equal(0, status)
    end)
  end)

  describe("cancellation", function()
    it("task:cancel() rejects at once and closes the connection", function()
      run(function()
        local k = key("cancel")
        local t = tide.spawn(function() return http.get(flt.url .. "/never?key=" .. k):await() end)
        assert.is_true(wait_for(function() return conn_state(k).state == "open" end))
        local t0 = tide.now()
        t:cancel("not needed")
        local err = rejection(t)
        assert.is_true(tide.now() - t0 < 0.05 * SLOW)
        assert.is_true(tide.is_error(err, "cancelled"))
        assert.equal("not needed", err.reason)
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("signal= rejects with the signal's reason and closes the connection", function()
      run(function()
        local k = key("signal")
        local ctl = tide.abort_controller()
        local reason = { why = "user left" }
        local p = http.get(flt.url .. "/drip?n=1000&ms=20&key=" .. k, { signal = ctl.signal })
        assert.is_true(wait_for(function() return conn_state(k).sent > 0 end))
        ctl:abort(reason)
        assert.equal("rejected", p:state())
        assert.equal(reason, rejection(p))
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("abort() without a reason rejects with a cancelled error", function()
      run(function()
        local ctl = tide.abort_controller()
        local p = http.get(flt.url .. "/never?key=" .. key("noreason"), { signal = ctl.signal })
        ctl:abort()
        assert.is_true(tide.is_error(rejection(p), "cancelled"))
      end)
    end)

    it("an already aborted signal rejects without connecting", function()
      run(function()
        local before = accepted()
        local ctl = tide.abort_controller()
        ctl:abort("too late")
        local k = key("pre")
        assert.equal("too late", rejection(http.get(flt.url .. "/echo?key=" .. k, { signal = ctl.signal })))
        assert.equal(before, accepted())
        assert.equal(0, hits(k))
      end)
    end)

    it("tide.timeout(s, promise) rejects with a timeout error and stops the transfer", function()
      run(function()
        local k = key("tidetimeout")
        local t0 = tide.now()
        local err = rejection(tide.timeout(0.2, http.get(flt.url .. "/never?key=" .. k)))
        assert.is_true(tide.is_error(err, "timeout"))
        assert.is_true(tide.now() - t0 < 1 * SLOW)
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("tide.timeout(s, fn) cancels the request the function awaits", function()
      run(function()
        local k = key("timeoutfn")
        local err = rejection(tide.timeout(0.2, function()
          return http.get(flt.url .. "/drip?n=1000&ms=20&key=" .. k):await()
        end))
        assert.is_true(tide.is_error(err, "timeout"))
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("tide.timeout_signal(s) as signal= rejects with a timeout error", function()
      run(function()
        local k = key("tsig")
        local err = rejection(http.get(flt.url .. "/never?key=" .. k, { signal = tide.timeout_signal(0.2) }))
        assert.is_true(tide.is_error(err, "timeout"))
        assert.is_true(server_saw_close(k))
      end)
    end)

    it("cancelling a task that reads a streamed body stops the transfer", function()
      run(function()
        local k = key("streamcancel")
        local t = tide.spawn(function()
          local res = http.get(flt.url .. "/drip?n=100000&ms=5&key=" .. k, { stream = true }):await()
          for _ in res:chunks() do end
        end)
        tide.sleep(0.2):await()
        t:cancel()
        assert.is_true(tide.is_error(rejection(t), "cancelled"))
        assert.is_true(server_saw_close(k))
      end)
    end)
  end)

  describe("many requests", function()
    it("500 requests, 50 at a time, all succeed", function()
      run(function()
        local list = {}
        for i = 1, 500 do list[i] = i end
        local results = tide.map(list, function(i)
          local res = http.get(ngx.http .. "/hello.json?i=" .. i):await()
          return res.status == 200 and res.body == servers.HELLO and res.url:match("i=(%d+)$")
        end, { concurrency = 50 }):await()
        assert.equal(500, results.n)
        for i = 1, 500 do assert.equal(tostring(i), results[i]) end
      end, 30)
    end)

    it("200 concurrent requests to the fault server each get their own answer", function()
      run(function()
        local c = new_client { base_url = flt.url }
        local ps = {}
        for i = 1, 200 do ps[i] = c:post("/echo?i=" .. i, { body = "body " .. i }) end
        local all = tide.all(ps):await()
        for i = 1, 200 do
          local e = all[i]:json()
          assert.equal(tostring(i), e.args.i[1])
          assert.equal("body " .. i, e.body)
        end
      end, 30)
    end)
  end)

  describe("misuse", function()
    local u = "http://127.0.0.1:9/x"

    local cases = {
      { "tide.http.get: unknown option 'bogus'", function() http.get(u, { bogus = 1 }) end },
      { "bad option 'timeout' (number expected, got string)", function() http.get(u, { timeout = "1" }) end },
      { "bad option 'headers' (table expected, got string)", function() http.get(u, { headers = "X: y" }) end },
      { "bad option 'follow' (boolean expected, got number)", function() http.get(u, { follow = 1 }) end },
      { "bad option 'on_progress' (function expected, got number)", function() http.get(u, { on_progress = 1 }) end },
      { "refusing header 'X-A': its value contains CR, LF or NUL (header injection)",
        function() http.get(u, { headers = { ["X-A"] = "a\r\nEvil: 1" } }) end },
      { "refusing header 'X-A': its value contains CR, LF or NUL (header injection)",
        function() http.get(u, { headers = { ["X-A"] = "a\nb" } }) end },
      { "refusing header 'X-A': its value contains CR, LF or NUL (header injection)",
        function() http.get(u, { headers = { ["X-A"] = "a\0b" } }) end },
      { 'bad header name "Bad Name"', function() http.get(u, { headers = { ["Bad Name"] = "a" } }) end },
      { 'bad header name "X-A:"', function() http.get(u, { headers = { ["X-A:"] = "a" } }) end },
      { 'bad header name "X\\\nB"', function() http.get(u, { headers = { ["X\nB"] = "a" } }) end },
      { 'bad header name "1"', function() http.get(u, { headers = { "a" } }) end },
      { "bad value for header 'X-A' (string expected, got boolean)",
        function() http.get(u, { headers = { ["X-A"] = true } }) end },
      { 'only http and https URLs are supported (got "ftp://127.0.0.1/")',
        function() http.get("ftp://127.0.0.1/") end },
      { 'only http and https URLs are supported (got "file:///etc/passwd")',
        function() http.get("file:///etc/passwd") end },
      { 'bad URL "127.0.0.1/x": it has no scheme: http:// or https://', function() http.get("127.0.0.1/x") end },
      { "a GET request cannot have a body", function() http.get(u, { body = "x" }) end },
      { "a GET request cannot have a body", function() http.get(u, { json = { 1 } }) end },
      { "a HEAD request cannot have a body", function() http.head(u, { form = { a = 1 } }) end },
      { "give only one of body, json and form", function() http.post(u, { body = "x", json = {} }) end },
      { "give only one of body, json and form", function() http.post(u, { form = { a = 1 }, json = {} }) end },
      { "give only one of body, json and form", function() http.post(u, { form = {}, body = "" }) end },
      { "bad option 'body' (string, file, {file = path}, stream or function expected, got number)",
        function() http.post(u, { body = 42 }) end },
      { "bad option 'body' (string, file, {file = path}, stream or function expected, got table)",
        function() http.post(u, { body = { "a" } }) end },
      { "bad option 'url' (string expected, got nil)", function() http.request {} end },
      { 'bad HTTP method "GE T"', function() http.request { url = u, method = "GE T" } end },
      { "bad option 'query' (keys must be strings, got number)", function() http.get(u, { query = { "x" } }) end },
      { "bad option 'query' (value of 'a' must be a string, number, boolean or a list of them)",
        function() http.get(u, { query = { a = function() end } }) end },
      { "bad option 'form' (value of 'a' must be a string, number, boolean or a list of them)",
        function() http.post(u, { form = { a = { {} } } }) end },
      { "bad option 'auth' ({user = string, password = string} expected)",
        function() http.get(u, { auth = { user = "u" } }) end },
      { "bad argument #1 to 'get' (string expected, got number)", function() http.get(42) end },
      { "bad argument #2 to 'get' (options table expected, got number)", function() http.get(u, 42) end },
      { "bad argument #1 to 'post' (string expected, got nil)", function() http.post() end },
      { "bad argument #1 to 'request' (options table expected, got string)", function() http.request(u) end },
      { "bad argument #1 to 'client' (options table expected, got number)", function() http.client(42) end },
      { "tide.http.client: unknown option 'bogus'", function() http.client { bogus = 1 } end },
      { "bad option 'timeout' to tide.http.client (number expected, got string)",
        function() http.client { timeout = "1" } end },
      { "refusing header 'X': its value contains CR, LF or NUL (header injection)",
        function() http.client { headers = { X = "a\r\n" } } end },
      { "bad argument #1 to 'get' (tide.http.client expected; call it as client:get(url))",
        function() local c = http.client(); c.get("/x") end },
      { "bad argument #1 to 'request' (tide.http.client expected; call it as client:request(opts))",
        function() local c = http.client(); c.request { url = u } end },
      { "bad argument #1 to 'get' (string expected, got number)", function() local c = http.client(); c:get(42) end },
      { "bad argument #1 to 'close' (tide.http.client expected; call it as client:close(...))",
        function() local c = http.client(); c.close(42) end },
      { "bad option 'signal' to 'get' (tide.signal expected, got number)",
        function() http.get(u, { signal = 42 }) end },
    }
    for i, case in ipairs(cases) do
      it(("#%d: %s"):format(i, case[1]:gsub("\n", "\\n")), function()
        assert.equal(case[1], misuse(case[2]))
        tide.run() -- nothing was started
        collectgarbage() -- clients made by the cases
      end)
    end

    it("a query or form value that is a table but not a list is refused, not dropped", function()
      local ok, err = pcall(http.get, u, { query = { a = { b = 1 }, c = 2 } })
      if ok then err:catch(function() end) end -- the request went out: not a test failure of its own
      assert.is_false(ok, "the value of 'a' was silently left out of the query")
      assert.is_truthy(tostring(err):find("'query'", 1, true), tostring(err))
      ok, err = pcall(http.post, u, { form = { a = { b = 1 } } })
      if ok then err:catch(function() end) end
      assert.is_false(ok, "the value of 'a' was silently left out of the form")
      assert.is_truthy(tostring(err):find("'form'", 1, true), tostring(err))
      tide.run()
    end)

    it("misuse raises before anything is sent", function()
      run(function()
        local before = accepted()
        local k = key("misuse")
        assert.has_error(function() http.get(flt.url .. "/echo?key=" .. k, { headers = { X = "a\r\nb" } }) end)
        assert.has_error(function() http.get(flt.url .. "/echo?key=" .. k, { body = "x" }) end)
        assert.equal(before, accepted())
        assert.equal(0, hits(k))
      end)
    end)
  end)
end)
