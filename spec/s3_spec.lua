-- SigV4 (libcurl's) against an S3-compatible server, s3rver, on 127.0.0.1:
-- PUT, GET and a bucket listing; and the signatures themselves checked by
-- an independent implementation (spec/support/sigv4.py).
local helper = require "spec.helper"
local tide = require "tide"
local s3support = require "spec.support.s3"

describe("aws_sigv4", function()
  local env, sig

  setup(function()
    env = s3support.start()
    sig = { region = "us-east-1", service = "s3", key = env.key, secret = env.secret }
  end)
  teardown(function() env.stop() end)

  helper.setup()

  -- Each test owns its clients (<close>): their pooled connections are
  -- closed before the leak check.
  local function s3_client() return tide.http.client { base_url = env.s3 } end
  local function v4_client() return tide.http.client { base_url = env.verifier } end

  it("stores an object and reads it back", function()
    local s3 <close> = s3_client()
    local put = s3:put("/tide-test/greeting.txt", {
      body = "hello from tide", aws_sigv4 = sig, headers = { ["Content-Type"] = "text/plain" },
    }):await()
    assert.equal(200, put.status)
    local get = s3:get("/tide-test/greeting.txt", { aws_sigv4 = sig }):await()
    assert.equal(200, get.status)
    assert.equal("hello from tide", get.body)
    assert.equal("text/plain", get.headers["content-type"])
  end)

  it("lists a bucket", function()
    local s3 <close> = s3_client()
    for i = 1, 3 do
      s3:put(("/tide-test/list/item-%d"):format(i), { body = ("x"):rep(i), aws_sigv4 = sig }):await()
    end
    local res = s3:get("/tide-test", { aws_sigv4 = sig, query = { ["list-type"] = "2", prefix = "list/" } }):await()
    assert.equal(200, res.status)
    local keys = {}
    for key in res.body:gmatch("<Key>([^<]+)</Key>") do keys[#keys + 1] = key end
    assert.same({ "list/item-1", "list/item-2", "list/item-3" }, keys)
  end)

  it("stores and reads many objects in parallel", function()
    local s3 <close> = s3_client()
    local puts = tide.map({ 1, 2, 3, 4, 5, 6, 7, 8 }, function(i)
      return s3:put("/tide-test/par/" .. i, { body = tostring(i * i), aws_sigv4 = sig }):await().status
    end, { concurrency = 4 }):await()
    assert.same({ 200, 200, 200, 200, 200, 200, 200, 200, n = 8 }, puts)
    local bodies = tide.map({ 1, 2, 3 }, function(i)
      return s3:get("/tide-test/par/" .. i, { aws_sigv4 = sig }):await().body
    end):await()
    assert.same({ "1", "4", "9", n = 3 }, bodies)
  end)

  it("an unknown key is refused by the server", function()
    local s3 <close> = s3_client()
    local res = s3:get("/tide-test/greeting.txt", {
      aws_sigv4 = { region = "us-east-1", service = "s3", key = "NOBODY", secret = "x" },
    }):await()
    assert.equal(403, res.status)
    assert.matches("InvalidAccessKeyId", res.body, 1, true)
  end)

  describe("signatures, checked independently", function()
    local function signed(secret)
      return { region = "eu-west-3", service = "s3", key = "AKIDEXAMPLE", secret = secret or env.verifier_secret }
    end

    it("are right for GET, PUT, queries and encoded paths", function()
      local v4 <close> = v4_client()
      local cases = {
        { "GET", "/bucket/key.txt" },
        { "GET", "/bucket", { query = { ["list-type"] = "2", prefix = "a b/c", ["max-keys"] = 5 } } },
        { "PUT", "/bucket/object", { body = "payload bytes" } },
        { "PUT", "/bucket/with%20space.txt", { body = ("z"):rep(10000) } },
        { "DELETE", "/bucket/object" },
      }
      for _, case in ipairs(cases) do
        local opts = case[3] or {}
        opts.aws_sigv4, opts.method, opts.url = signed(), case[1], case[2]
        local res = v4:request(opts):await()
        assert.equal(200, res.status, case[1] .. " " .. case[2] .. ": " .. res.body)
        assert.equal("signature ok", res.body)
      end
    end)

    it("do not match with the wrong secret", function()
      local v4 <close> = v4_client()
      local res = v4:get("/bucket/key.txt", { aws_sigv4 = signed("not-the-secret") }):await()
      assert.equal(403, res.status)
      assert.matches("^signature mismatch", res.body)
    end)

    it("carry the scope and the payload header S3 wants", function()
      local res = tide.http.get(env.verifier .. "/x", { aws_sigv4 = signed() }):await()
      assert.equal(200, res.status)
    end)
  end)

  it("key and secret default to AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", function()
    local out = helper.lua(([[
      local tide = require "tide"
      local res = tide.http.get(%q, { aws_sigv4 = { region = "eu-west-3", service = "s3" } }):await()
      print(res.status, res.body)
    ]]):format(env.verifier .. "/from-env"), nil, {
      AWS_ACCESS_KEY_ID = "AKIDFROMENV", AWS_SECRET_ACCESS_KEY = env.verifier_secret,
    })
    assert.matches("200\tsignature ok", out, 1, true)
  end)

  it("needs credentials and a region and service", function()
    local ok, err = pcall(tide.http.get, env.s3, { aws_sigv4 = { region = "x", service = "s3", key = "k" } })
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "usage"))
    assert.equal("aws_sigv4 needs key and secret (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", err.message)
    ok, err = pcall(tide.http.get, env.s3, { aws_sigv4 = { service = "s3", key = "k", secret = "s" } })
    assert.is_false(ok)
    assert.equal("bad option 'aws_sigv4' (region: string expected)", err.message)
  end)
end)
