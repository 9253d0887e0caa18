-- tide.http's conveniences (DESIGN.md "HTTP conveniences") against real
-- servers on loopback: decompression and the body limit, Retry-After,
-- client hooks, Unix sockets, cookie jars.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http
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
end)
