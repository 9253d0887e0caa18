-- Issue 10, HTTP bugs: a client's `<close>` replaced the error unwinding it
-- with "cannot close an HTTP client with 1 transfer(s) in flight" (bug 2);
-- a streamed upload could not declare its length (bug 3); a malformed URL
-- rejected later as `network` and was retried (bug 4); network errors gave
-- `code` as curl's number. Real servers: the fault server on loopback, which
-- echoes the request it saw.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http

local flt

local run = helper.run_slow
local rejection, wait_for, key = helper.rejection, helper.wait_for, helper.key

local function conn_state(k)
  return http.get(flt.url .. "/state?key=" .. k):await():json()
end

describe("issue 10: HTTP", function()
  lazy_setup(function()
    flt = servers.faults()
  end)
  lazy_teardown(function()
    servers.stop_all()
  end)
  helper.setup()

  describe("closing a client with requests in flight", function()
    it("<close> lets the error raised while a request is in flight propagate unchanged", function()
      run(function()
        local k = key("closebusy")
        local p
        local ok, err = pcall(function()
          local api <close> = http.client { base_url = flt.url }
          p = api:get("/never?key=" .. k)
          assert.is_true(wait_for(function() return conn_state(k).state == "open" end))
          error("the real error", 0)
        end)
        assert.is_false(ok)
        assert.equal("the real error", err)
        local e = rejection(p)
        assert.is_true(tide.is_error(e, "cancelled"), tostring(e))
        -- The transfer really stopped: the server saw its connection close.
        assert.is_true(wait_for(function() return conn_state(k).state == "closed" end))
      end)
    end)

    it("client:close() cancels the requests in flight and does not raise", function()
      run(function()
        local c = http.client { base_url = flt.url }
        local a, b = c:get("/slow?ms=2000"), c:get("/never")
        c:close()
        for _, p in ipairs { a, b } do
          local e = rejection(p)
          assert.is_true(tide.is_error(e, "cancelled"), tostring(e))
        end
        c:close() -- again: nothing happens
      end)
    end)

    it("a request cancelled by its client's close is not reported as unhandled", function()
      local unhandled = helper.capture_unhandled(finally)
      run(function()
        local c = http.client { base_url = flt.url }
        c:get("/never")
        tide.sleep(0.02):await()
        c:close()
        tide.sleep(0.02):await()
      end)
      assert.same({}, unhandled)
    end)

    it("a task awaiting a request of a closed client gets `cancelled`", function()
      run(function()
        local c = http.client { base_url = flt.url }
        local t = tide.spawn(function() return c:get("/never"):await() end)
        tide.sleep(0.02):await()
        c:close()
        assert.is_true(tide.is_error(rejection(t), "cancelled"))
      end)
    end)
  end)

  describe("malformed URLs", function()
    local bad = {
      { "/echo with space", "it contains a space" },
      { "/echo\r\nX-Injected: 1", "it contains a control character" },
      { "/echo\0", "it contains a control character" },
      { "/echo\t", "it contains a control character" },
    }

    it("raise a usage error at the call, never a network rejection", function()
      run(function()
        for _, case in ipairs(bad) do
          local msg = helper.misuse(function() http.get(flt.url .. case[1]) end, "usage")
          assert.matches(case[2], msg, 1, true)
        end
        for _, case in ipairs {
          { "127.0.0.1/echo", "it has no scheme" },
          { "ftp://127.0.0.1/", "only http and https URLs are supported" },
          { "gopher://127.0.0.1/", "only http and https URLs are supported" },
          { "http:///echo", "it has no host" },
          { "http://", "it has no host" },
          { "http://127.0.0.1:99999/", "Port number" },
        } do
          local msg = helper.misuse(function() http.get(case[1]) end, "usage")
          assert.matches(case[2], msg, 1, true)
        end
      end)
    end)

    it("a client's retry policy never retries one", function()
      run(function()
        local api <close> = http.client { base_url = flt.url, retry = { attempts = 5, delay = 1 } }
        local t0 = tide.now()
        local msg = helper.misuse(function() api:get("/echo with space") end, "usage")
        assert.matches("it contains a space", msg, 1, true)
        assert.is_true(tide.now() - t0 < 0.5)
      end)
    end)

    it("a client's base_url is checked when the client is made", function()
      assert.matches("it has no scheme", helper.misuse(function() http.client { base_url = "127.0.0.1" } end, "usage"),
        1, true)
    end)
  end)

  describe("content_length for a streamed body", function()
    local function pieces(list)
      local i = 0
      return function()
        i = i + 1
        return list[i]
      end
    end

    it("sends a function body with that Content-Length and no chunked encoding", function()
      run(function()
        local res = http.put(flt.url .. "/echo", { body = pieces { "abc", "", "defg" }, content_length = 7 }):await()
        local seen = res:json()
        assert.equal("7", seen.headers["content-length"])
        assert.is_nil(seen.headers["transfer-encoding"])
        assert.is_false(seen.chunked)
        assert.equal(7, seen.body_len)
      end)
    end)

    it("sends a stream body with that Content-Length (a large one, in pieces)", function()
      run(function()
        local piece, list = ("x"):rep(64 * 1024), {}
        for i = 1, 40 do list[i] = piece end
        local body = tide.stream.from(list)
        local seen = http.post(flt.url .. "/echo", { body = body, content_length = 40 * #piece }):await():json()
        assert.equal(tostring(40 * #piece), seen.headers["content-length"])
        assert.is_false(seen.chunked)
        assert.equal(40 * #piece, seen.body_len)
      end)
    end)

    it("rejects a body shorter than declared with a usage error", function()
      run(function()
        local err = rejection(http.put(flt.url .. "/echo", { body = pieces { "abc" }, content_length = 10 }))
        assert.is_true(tide.is_error(err, "usage"), tostring(err))
        assert.equal("the upload body is shorter than its content_length (10 bytes)", err.message)
      end)
    end)

    it("rejects a body longer than declared, also when the extra comes in a later piece", function()
      run(function()
        for _, list in ipairs { { "abcdef" }, { "abc", "d" }, { "abc", "", "d" } } do
          local err = rejection(http.put(flt.url .. "/echo", { body = pieces(list), content_length = 3 }))
          assert.is_true(tide.is_error(err, "usage"), tostring(err))
          assert.equal("the upload body is longer than its content_length (3 bytes)", err.message)
        end
      end)
    end)

    it("is checked at the call: a byte count, and the size of a string body", function()
      local u = flt.url .. "/echo"
      assert.equal("bad option 'content_length' (a byte count expected, got -1)",
        helper.misuse(function() http.put(u, { body = pieces {}, content_length = -1 }) end, "usage"))
      assert.equal("bad option 'content_length' (a byte count expected, got 1.5)",
        helper.misuse(function() http.put(u, { body = pieces {}, content_length = 1.5 }) end, "usage"))
      assert.equal("bad option 'content_length' (3, but the body has 2 bytes)",
        helper.misuse(function() http.put(u, { body = "ab", content_length = 3 }) end, "usage"))
      assert.equal("bad option 'content_length' (the request has no body)",
        helper.misuse(function() http.put(u, { content_length = 3 }) end, "usage"))
    end)
  end)

  describe("network errors", function()
    it("carry `code` as a name and `curl_code` as curl's number", function()
      run(function()
        local err = rejection(http.get("http://127.0.0.1:" .. servers.closed_port() .. "/x"))
        assert.is_true(tide.is_error(err, "network"), tostring(err))
        assert.equal("ECONNREFUSED", err.code)
        assert.equal(7, err.curl_code) -- CURLE_COULDNT_CONNECT
        err = rejection(http.get(flt.url .. "/never", { timeout = 0.1 }))
        assert.is_true(tide.is_error(err, "timeout"), tostring(err))
        assert.equal("CURLE_OPERATION_TIMEDOUT", err.code)
        assert.equal(28, err.curl_code)
      end)
    end)
  end)

  describe("tostring at the REPL", function()
    it("shows headers one per line, timings, responses and clients", function()
      run(function()
        local api <close> = http.client { base_url = flt.url }
        local res = api:get("/echo"):await()
        local text = tostring(res.headers)
        assert.matches("^[%w-]+: ", text)
        assert.matches("Content%-Type: application/json\n", text)
        assert.equal(#res._header_list, select(2, text:gsub("\n", "")) + 1)
        assert.matches("^tide%.http%.timings %(dns [%d.]+ ms, connect [%d.]+ ms, tls [%d.]+ ms, "
          .. "first_byte [%d.]+ ms, total [%d.]+ ms%)$", tostring(res.timings))
        assert.equal(("tide.http.response (200, %s/echo, %d bytes)"):format(flt.url, #res.body), tostring(res))
        local streamed = api:get("/chunked?n=2", { stream = true }):await()
        assert.equal(("tide.http.response (200, %s/chunked?n=2, streamed)"):format(flt.url), tostring(streamed))
        streamed:close()
        local p = api:get("/slow?ms=2000")
        assert.equal(("tide.http.client (%s, 1 in flight)"):format(flt.url), tostring(api))
        api:close()
        rejection(p)
        assert.equal(("tide.http.client (%s, closed)"):format(flt.url), tostring(api))
      end)
    end)
  end)

  it("the README documents every request option the code accepts", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("a")
    f:close()
    for name in pairs(require("tide.core").http_options) do
      assert(readme:find("`" .. name .. "`", 1, true), name .. " is not in the README")
    end
    assert(readme:find("function(dl_now, dl_total, ul_now, ul_total)", 1, true))
  end)
end)
