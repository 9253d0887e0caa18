-- A TLS pin mismatch on a client that had made requests before was
-- reported with `code = "EPIPE"`: libcurl keeps the last system error of
-- a reused easy handle or connection, and that name was taken for any
-- failure. The system's error name now comes only with failures a system
-- call causes (connect, send, receive, timeout); a pin mismatch is named
-- by curl's code.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http
local run = helper.run_slow

describe("issue 14: a pinned_pubkey mismatch after other requests on the same client", function()
  local ngx, flt
  lazy_setup(function()
    ngx = servers.nginx()
    flt = servers.faults()
  end)
  lazy_teardown(function() servers.stop_all() end)
  helper.setup()

  it("is named by curl's code, not by a system error left from before", function()
    run(function()
      local client <close> = http.client {}
      local tls = { ca_file = ngx.cert }
      local mismatch = { ca_file = ngx.cert, pinned_pubkey = servers.pubkey_pin(ngx.other_cert) }
      for round = 1, 2 do
        -- Plain requests first (their handles and connections are kept),
        -- one of them an upload the server cuts short (a send meets EPIPE) ...
        assert.equal(200, client:get(ngx.https .. "/hello.json", tls):await().status)
        assert.equal(200, client:get(ngx.http .. "/hello.json"):await().status)
        local early = client:post(flt.url .. "/early", { body = string.rep("x", 4 * 1024 * 1024) })
        tide.pawait(early)
        -- ... then a pin mismatch on the same client.
        local err = helper.rejection(client:get(ngx.https .. "/hello.json", mismatch))
        assert.is_true(tide.is_error(err, "network"), tostring(err))
        assert.equal("CURLE_SSL_PINNEDPUBKEYNOTMATCH", err.code, "round " .. round)
        assert.equal(90, err.curl_code)
      end
    end)
  end)
end)
