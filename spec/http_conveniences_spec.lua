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

local function rss_mib()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
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
        collectgarbage()
        local before = rss_mib()
        local url = flt.url .. "/gzip-bomb?mb=16"
        local err = rejection(http.get(url, { max_body_size = MiB }))
        assert.is_true(tide.is_error(err, "body_too_large"), tostring(err))
        assert.equal(("the response body of %s is larger than %d bytes"):format(url, MiB), err.message)
        if helper.RSS_MEANINGFUL then
          assert.is_true(rss_mib() - before < 12, ("RSS grew by %.1f MiB"):format(rss_mib() - before))
        end
      end)
    end)

    it("max_body_size counts decompressed bytes with stream = true", function()
      run(function()
        collectgarbage()
        local before = rss_mib()
        local total = 0
        local ok, err = tide.pawait(tide.spawn(function()
          local res <close> = http.get(flt.url .. "/gzip-bomb?mb=16", { max_body_size = MiB, stream = true }):await()
          for chunk in res:chunks() do total = total + #chunk end
        end))
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "body_too_large"), tostring(err))
        assert.is_true(total <= MiB, "read " .. total .. " bytes")
        if helper.RSS_MEANINGFUL then
          assert.is_true(rss_mib() - before < 12, ("RSS grew by %.1f MiB"):format(rss_mib() - before))
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
end)
