-- tide.http when the network misbehaves: refused connections, resets in the
-- middle of a body, malformed answers, silent servers, drip-fed bodies, DNS
-- failures, untrusted TLS, connections closed without an answer. Each
-- promise settles (nothing hangs: helper.run's watchdog), with the right
-- error kind, curl code and phase, and no file descriptor stays open (the
-- helper's leak check after every test). Servers: spec/support/faults.py
-- and nginx, on loopback only.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http

-- Upper bounds on durations (and the watchdogs) stretch by helper.SLOW.
local SLOW = helper.SLOW

-- helper.run with a watchdog of `timeout` (default 10) s, stretched by SLOW.
local run = helper.run_slow

local ngx, flt

local key = helper.key

local rejection, wait_for = helper.rejection, helper.wait_for

local function server_saw_close(k)
  return wait_for(function()
    return http.get(flt.url .. "/state?key=" .. k):await():json().state == "closed"
  end)
end

-- Checks the fields every failed request has, and returns the error.
local function failed(err, kind, code, phase, url)
  assert.is_true(tide.is_error(err, kind), ("expected a %s error, got %s"):format(kind, tostring(err)))
  assert.equal(code, err.curl_code)
  assert.is_string(err.code) -- a name: "ECONNREFUSED" or "CURLE_..."
  assert.equal(phase, err.phase)
  assert.equal(url, err.url)
  assert.is_string(err.curl_message)
  -- "<url>: <what curl says>"
  assert.equal(url .. ": ", err.message:sub(1, #url + 2))
  assert.is_true(#err.message > #url + 2)
  assert.equal(kind .. ": " .. err.message, tostring(err))
  return err
end

-- A host name that fails to resolve without asking any DNS server: a label
-- longer than 63 bytes cannot be put in a DNS query, so the resolver fails
-- before sending anything (the .invalid TLD never resolves anyway).
local UNRESOLVABLE = ("x"):rep(64) .. ".nonexistent.invalid"

describe("tide.http faults", function()
  lazy_setup(function()
    ngx = servers.nginx()
    flt = servers.faults()
  end)
  lazy_teardown(function()
    servers.stop_all()
  end)
  helper.setup()

  it("connection refused: network error, code 7, phase connect", function()
    run(function()
      local url = ("http://127.0.0.1:%d/x"):format(servers.closed_port())
      local t0 = tide.now()
      failed(rejection(http.get(url)), "network", 7, "connect", url)
      assert.is_true(tide.now() - t0 < 1 * SLOW)
    end)
  end)

  it("connection refused, many at once", function()
    run(function()
      local url = ("http://127.0.0.1:%d/x"):format(servers.closed_port())
      local ps = {}
      for i = 1, 100 do ps[i] = http.get(url .. "?i=" .. i) end
      for i, r in ipairs(tide.all_settled(ps):await()) do
        assert.equal("rejected", r.status)
        failed(r.reason, "network", 7, "connect", url .. "?i=" .. i)
      end
    end)
  end)

  it("reset in the middle of a body: network error in phase receive", function()
    run(function()
      local url = flt.url .. "/reset"
      -- CURLE_RECV_ERROR: "Recv failure: Connection reset by peer".
      local err = failed(rejection(http.get(url)), "network", 56, "receive", url)
      assert.is_truthy(err.message:lower():find("reset", 1, true), err.message)
    end)
  end)

  it("reset in the middle of a streamed body: the read rejects with a network error", function()
    run(function()
      local url = flt.url .. "/reset"
      local res = http.get(url, { stream = true }):await()
      assert.equal(200, res.status)
      local got = 0
      local ok, err = pcall(function()
        for chunk in res:chunks() do got = got + #chunk end
      end)
      assert.is_false(ok)
      failed(err, "network", 56, "receive", url)
      assert.is_true(got <= 500)
    end)
  end)

  it("malformed status line: network error", function()
    run(function()
      local url = flt.url .. "/malformed"
      -- CURLE_UNSUPPORTED_PROTOCOL: "Unsupported HTTP version in response".
      failed(rejection(http.get(url)), "network", 1, "receive", url)
    end)
  end)

  it("connection closed without an answer: network error, code 52", function()
    run(function()
      local url = flt.url .. "/closed"
      failed(rejection(http.get(url)), "network", 52, "receive", url) -- CURLE_GOT_NOTHING
    end)
  end)

  it("a server that never answers: timeout= rejects with a timeout error", function()
    run(function()
      local k = key("never")
      local url = flt.url .. "/never?key=" .. k
      local t0 = tide.now()
      -- The phase says where the timeout struck: waiting for the answer.
      failed(rejection(http.get(url, { timeout = 0.3 })), "timeout", 28, "first_byte", url)
      local took = tide.now() - t0
      assert.is_true(took >= 0.29 and took < 1.5 * SLOW, "took " .. took)
      assert.is_true(server_saw_close(k))
    end)
  end)

  it("a silent server without timeout= is still cancellable", function()
    run(function()
      local k = key("silent")
      local p = http.get(flt.url .. "/never?key=" .. k)
      tide.sleep(0.2):await()
      assert.equal("pending", p:state())
      local err = rejection(tide.timeout(0.1, p))
      assert.is_true(tide.is_error(err, "timeout"))
      assert.is_true(server_saw_close(k))
    end)
  end)

  it("a drip-fed body completes, slowly", function()
    run(function()
      local t0 = tide.now()
      local res = http.get(flt.url .. "/drip?n=26&ms=15"):await()
      assert.equal("abcdefghijklmnopqrstuvwxyz", res.body)
      assert.is_true(tide.now() - t0 >= 0.35)
    end)
  end)

  it("a drip-fed body times out with a short timeout", function()
    run(function()
      local k = key("drip")
      local url = flt.url .. "/drip?n=1000&ms=20&key=" .. k
      local err = failed(rejection(http.get(url, { timeout = 0.3 })), "timeout", 28, "receive", url)
      assert.is_truthy(err.message:find("bytes received", 1, true), err.message)
      assert.is_true(server_saw_close(k))
    end)
  end)

  it("a drip-fed streamed body times out while it is read", function()
    run(function()
      local url = flt.url .. "/drip?n=1000&ms=20"
      local res = http.get(url, { timeout = 0.3, stream = true }):await()
      local got = 0
      local ok, err = pcall(function() for chunk in res:chunks() do got = got + #chunk end end)
      assert.is_false(ok)
      failed(err, "timeout", 28, "receive", url)
      assert.is_true(got > 0 and got < 1000)
    end)
  end)

  it("connect timeout against a port that never accepts", function()
    run(function()
      local url = flt.blackhole .. "/x"
      local t0 = tide.now()
      failed(rejection(http.get(url, { connect_timeout = 0.2 })), "timeout", 28, "connect", url)
      assert.is_true(tide.now() - t0 < 1.5 * SLOW)
    end)
  end)

  it("DNS failure: network error, code 6, phase dns", function()
    run(function()
      local url = "http://" .. UNRESOLVABLE .. "/x"
      failed(rejection(http.get(url)), "network", 6, "dns", url)
    end)
  end)

  it("through a proxy that refuses, the host name is never resolved here", function()
    run(function()
      local url = "http://nonexistent.invalid/x"
      local proxy = ("http://127.0.0.1:%d"):format(servers.closed_port())
      failed(rejection(http.get(url, { proxy = proxy })), "network", 7, "connect", url)
    end)
  end)

  it("self-signed TLS: network error, code 60, phase tls", function()
    run(function()
      local url = ngx.https .. "/hello.json"
      failed(rejection(http.get(url)), "network", 60, "tls", url)
    end)
  end)

  it("TLS to a server that speaks plain HTTP: network error in phase tls", function()
    run(function()
      local url = ("https://127.0.0.1:%d/hello.json"):format(ngx.http_port)
      local err = rejection(http.get(url))
      assert.is_true(tide.is_error(err, "network"), tostring(err))
      assert.equal("tls", err.phase)
      assert.equal(35, err.curl_code)
      assert.is_string(err.code) -- CURLE_SSL_CONNECT_ERROR, or the system's name (ECONNRESET)
    end)
  end)

  it("plain HTTP to a TLS server: network error, not a hang", function()
    run(function()
      local url = ("http://127.0.0.1:%d/hello.json"):format(ngx.https_port)
      local ok, res = tide.pawait(http.get(url, { timeout = 5 }))
      -- nginx answers 400 ("plain HTTP request was sent to HTTPS port").
      assert.is_true(ok, tostring(res))
      assert.equal(400, res.status)
    end)
  end)

  it("the same faults, all at once, each settle with their own error", function()
    run(function()
      local refused = ("http://127.0.0.1:%d/x"):format(servers.closed_port())
      local cases = {
        { refused, "network", 7 },
        { flt.url .. "/reset", "network" }, -- its code: see the reset test above
        { flt.url .. "/malformed", "network", 1 },
        { flt.url .. "/closed", "network", 52 },
        { flt.url .. "/never", "timeout", 28 },
        { "http://" .. UNRESOLVABLE .. "/", "network", 6 },
        { ngx.https .. "/hello.json", "network", 60 },
        { flt.url .. "/echo", nil },
      }
      local ps = {}
      for round = 1, 10 do
        for _, case in ipairs(cases) do
          -- Only /never may time out (each failed TLS handshake below loads
          -- the system CA bundle, which holds the loop for some 25 ms).
          ps[#ps + 1] = http.get(case[1] .. (case[1]:find("?", 1, true) and "&" or "?") .. "r=" .. round,
            { timeout = case[3] == 28 and 0.5 or 10 * SLOW })
        end
      end
      local settled = tide.all_settled(ps):await()
      for j, r in ipairs(settled) do
        local case = cases[(j - 1) % #cases + 1]
        if case[2] then
          assert.equal("rejected", r.status, case[1])
          assert.is_true(tide.is_error(r.reason, case[2]), case[1] .. ": " .. tostring(r.reason))
          if case[3] then assert.equal(case[3], r.reason.curl_code, case[1]) end
        else
          assert.equal("fulfilled", r.status, case[1] .. ": " .. tostring(r.reason))
          assert.equal(200, r.value.status)
        end
      end
    end, 20)
  end)

  it("200 silent servers timing out at once all settle and leave no fd", function()
    run(function()
      local ps = {}
      for i = 1, 200 do ps[i] = http.get(flt.url .. "/never?i=" .. i, { timeout = 0.3 }) end
      local t0 = tide.now()
      for _, r in ipairs(tide.all_settled(ps):await()) do
        assert.equal("rejected", r.status)
        assert.is_true(tide.is_error(r.reason, "timeout"))
      end
      assert.is_true(tide.now() - t0 < 3 * SLOW)
    end, 20)
  end)

  it("the default client is usable after every kind of failure", function()
    run(function()
      for _, url in ipairs {
        flt.url .. "/reset", flt.url .. "/malformed", flt.url .. "/closed", ngx.https .. "/hello.json",
        "http://" .. UNRESOLVABLE .. "/", ngx.http .. "/to-ftp", ngx.http .. "/redirect-loop",
      } do
        assert.is_false((tide.pawait(http.get(url))))
        local ok, res = pcall(function() return http.get(ngx.http .. "/hello.json"):await() end)
        assert.is_true(ok, ("a request after %s failed: %s"):format(url, tostring(res)))
        assert.equal(servers.HELLO, res.body)
      end
    end)
  end)

  it("a server that closes a kept-alive connection: the next request still succeeds", function()
    run(function()
      local c = http.client { base_url = flt.url }
      finally(function() pcall(c.close, c) end)
      -- The server closes after answering ("Connection: close" asked by us).
      for i = 1, 5 do
        local res = c:get("/echo?i=" .. i, { headers = { Connection = "close" } }):await()
        assert.equal(tostring(i), res:json().args.i[1])
      end
    end)
  end)
end)
