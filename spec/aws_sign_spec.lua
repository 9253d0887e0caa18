-- tide.aws.sign: the AWS Signature Version 4 test suite (as the AWS SDK for
-- JavaScript publishes it: scripts/deps.sh need_sigv4_suite fetches it into
-- .cache), and agreement with botocore's signer on randomized requests, for
-- headers and presigned URLs.
local helper = require "spec.helper"
local tide = require "tide"
local sign = require "tide.aws.sign"

local SUITE = ".cache/sigv4-suite/suite.json"
local CLEAN_ENV = require("spec.support.servers").CLEAN_ENV

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function spit(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- SigV4's encoding: every byte but the unreserved ones as %XX.
local function encode(s, keep_slash)
  return (s:gsub("[^%w%-%._~" .. (keep_slash and "/" or "") .. "]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

-- A python3 that has botocore (Debian's python3-botocore), or nil.
local function botocore_python()
  for _, py in ipairs { "python3", "/usr/bin/python3" } do
    if os.execute(CLEAN_ENV .. py .. " -c 'import botocore' >/dev/null 2>&1") then return py end
  end
end

local function botocore_sign(py, cases)
  local dir = helper.tmpdir()
  spit(dir .. "/in.json", tide.json.encode(cases))
  local ok = os.execute(("%s%s spec/support/botocore_sign.py < %s/in.json > %s/out.json 2> %s/err"):format(
    CLEAN_ENV, py, dir, dir, dir))
  local out, err = slurp(dir .. "/out.json"), slurp(dir .. "/err")
  os.execute("rm -rf " .. dir)
  assert(ok, "botocore_sign.py failed: " .. tostring(err))
  return tide.json.decode(out)
end

local CREDS = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }
local SUITE_DATE = 1440938160 -- 2015-08-30T12:36:00Z

describe("tide.aws.sign", function()
  helper.setup()

  describe("the AWS Signature Version 4 test suite", function()
    local suite = slurp(SUITE)
    if not suite then
      -- The spec helper's setup step (scripts/test runs it too).
      os.execute("bash -c '. scripts/deps.sh && need_sigv4_suite'")
      suite = slurp(SUITE)
    end
    assert(suite, SUITE .. " is missing and could not be fetched (npm pack @aws-sdk/signature-v4)")
    suite = tide.json.decode(suite)

    it("has its vectors", function()
      assert.is_true(#suite.requests >= 20)
    end)

    for _, case in ipairs(suite.requests) do
      it(case.name, function()
        local r = case.request
        -- The suite's path is the unencoded one (its request line); sign
        -- encodes it once for a service other than S3, as the suite expects.
        local url = "https://" .. r.hostname .. r.path
        local q = {}
        for k, v in pairs(r.query) do q[#q + 1] = encode(k) .. "=" .. encode(v) end
        table.sort(q)
        if #q > 0 then url = url .. "?" .. table.concat(q, "&") end
        local headers = sign.sign({ method = r.method, url = url, headers = r.headers, body = r.body }, CREDS,
          { region = suite.region, service = suite.service, date = SUITE_DATE })
        assert.equal(case.authorization, headers.authorization)
        assert.equal("20150830T123600Z", headers["x-amz-date"])
      end)
    end
  end)

  describe("headers", function()
    local req = { method = "POST", url = "https://dynamodb.us-east-1.amazonaws.com/",
      headers = { ["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "DynamoDB_20120810.ListTables",
        ["X-Amz-Date"] = "stale", Authorization = "stale" },
      body = "{}" }

    it("returns a new table with the request's headers and the signature's", function()
      local h = sign.sign(req, CREDS, { region = "us-east-1", service = "dynamodb", date = SUITE_DATE })
      assert.equal("application/x-amz-json-1.0", h["Content-Type"])
      assert.equal("20150830T123600Z", h["x-amz-date"])
      assert.is_nil(h["X-Amz-Date"])
      assert.is_nil(h.Authorization)
      assert.matches("^AWS4%-HMAC%-SHA256 Credential=AKIDEXAMPLE/20150830/us%-east%-1/dynamodb/aws4_request, "
        .. "SignedHeaders=content%-type;host;x%-amz%-date;x%-amz%-target, Signature=%x+$", h.authorization)
      assert.is_nil(h["x-amz-security-token"])
      assert.is_nil(h["x-amz-content-sha256"])
      assert.equal("stale", req.headers["X-Amz-Date"]) -- the request is not changed
    end)

    it("adds the session token, and S3's payload hash", function()
      local creds = { access_key_id = "A", secret_access_key = "S", session_token = "TOKEN" }
      local h = sign.sign({ url = "http://127.0.0.1:9000/bucket/key" }, creds,
        { region = "us-east-1", service = "s3", date = SUITE_DATE })
      assert.equal("TOKEN", h["x-amz-security-token"])
      assert.equal(sign.sha256(""), h["x-amz-content-sha256"])
      assert.matches("SignedHeaders=host;x%-amz%-content%-sha256;x%-amz%-date;x%-amz%-security%-token,",
        h.authorization)
      h = sign.sign({ method = "PUT", url = "http://127.0.0.1:9000/bucket/key" }, creds,
        { region = "us-east-1", service = "s3", date = SUITE_DATE, unsigned_payload = true })
      assert.equal("UNSIGNED-PAYLOAD", h["x-amz-content-sha256"])
    end)

    it("signs the caller's x-amz-content-sha256 as the payload hash", function()
      local base = { region = "us-east-1", service = "s3", date = SUITE_DATE }
      local a = sign.sign({ url = "https://b.s3.amazonaws.com/k", body = "x" }, CREDS, base)
      local b = sign.sign({ url = "https://b.s3.amazonaws.com/k",
        headers = { ["X-Amz-Content-Sha256"] = sign.sha256("x") } }, CREDS, base)
      assert.equal(a.authorization, b.authorization)
    end)

    it("uses the clock plus sign.clock_offset without a date", function()
      local before = os.time()
      local h = sign.sign(req, CREDS, { region = "us-east-1", service = "dynamodb" })
      local function parse(d)
        local y, mo, dd, hh, mi, ss = d:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
        return os.time { year = y, month = mo, day = dd, hour = hh, min = mi, sec = ss, isdst = false }
      end
      local t0 = parse(h["x-amz-date"])
      sign.clock_offset = 3600
      local ok, h2 = pcall(sign.sign, req, CREDS, { region = "us-east-1", service = "dynamodb" })
      sign.clock_offset = 0
      assert(ok, h2)
      local d = parse(h2["x-amz-date"]) - t0
      assert.is_true(d >= 3600 and d <= 3600 + (os.time() - before) + 1)
    end)

    it("refuses what it cannot sign with usage errors", function()
      local o = { region = "us-east-1", service = "s3" }
      assert.matches("region", helper.misuse(function() sign.sign(req, CREDS, { service = "s3" }) end))
      assert.matches("unknown option 'regoin'", helper.misuse(function()
        sign.sign(req, CREDS, { regoin = "x", region = "r", service = "s" }) end))
      assert.matches("access_key_id", helper.misuse(function() sign.sign(req, {}, o) end))
      assert.matches("body", helper.misuse(function()
        sign.sign({ url = "https://x/", body = {} }, CREDS, o) end))
      assert.matches("presign", helper.misuse(function()
        sign.sign(req, CREDS, { region = "r", service = "s", presign = 0 }) end))
      assert.matches("absolute http", helper.misuse(function() sign.sign({ url = "/relative" }, CREDS, o) end))
      assert.matches("header 'X%-N' must be a string", helper.misuse(function()
        sign.sign({ url = "https://x/", headers = { ["X-N"] = true } }, CREDS, o) end))
    end)

    it("signs huge requests, and gives their buffers back", function()
      local o = { region = "us-east-1", service = "sqs", date = SUITE_DATE }
      local small = sign.sign(req, CREDS, o).authorization
      local big = { url = "https://h.example/" .. ("p/"):rep(50000) .. "?" .. ("k=v&"):rep(50000),
        headers = { ["x-big"] = ("v "):rep(100000) } }
      for _ = 1, 3 do
        assert.matches("Signature=%x+$", sign.sign(big, CREDS, o).authorization)
        assert.matches("X%-Amz%-Signature=%x+$", sign.sign(big, CREDS, { region = "r", service = "s", presign = 60 }))
        assert.equal(small, sign.sign(req, CREDS, o).authorization)
      end
    end)

    it("costs a few microseconds a call", function()
      local r = { method = "POST", url = "https://dynamodb.us-east-1.amazonaws.com/",
        headers = { ["content-type"] = "application/x-amz-json-1.0", ["x-amz-target"] = "DynamoDB_20120810.GetItem" },
        body = '{"TableName":"bench","Key":{"id":{"S":"item-00042"}}}' }
      local creds = { access_key_id = "AKIDEXAMPLE", secret_access_key = CREDS.secret_access_key,
        session_token = "FwoGZXIvYXdzEXAMPLETOKEN" }
      local o = { region = "us-east-1", service = "dynamodb" }
      for _ = 1, 1000 do sign.sign(r, creds, o) end
      local n = 20000
      local t = os.clock()
      for _ = 1, n do sign.sign(r, creds, o) end
      local us = (os.clock() - t) / n * 1e6
      print(("\n      aws.sign: %.2f us per call"):format(us))
      -- The target is well under 10 us; valgrind's slowdown is beyond any bound.
      if not (os.getenv("LD_PRELOAD") or ""):find("vgpreload", 1, true) then
        assert.is_true(us < 20 * helper.SLOW, ("%.2f us per call"):format(us))
      end
    end)
  end)

  describe("agrees with botocore", function()
    local py = botocore_python()
    if not py then
      pending("botocore is not installed (Debian: python3-botocore): nothing to compare with")
      return
    end

    -- Random but reproducible requests.
    local seed = tonumber(os.getenv("TIDE_SIGN_SEED") or "") or 12
    local rnd = function(a, b) return math.random(a, b) end
    local function pick(t) return t[rnd(1, #t)] end
    local CHARS = { "a", "Z", "0", "-", "_", ".", "~", " ", "+", "=", "&", "/", "%", "?", "#", "!", "*", "'",
      "(", ")", ",", ";", ":", "@", "$", "é", "ሴ", "€", "[", "]" }
    local function text(max, chars)
      local t = {}
      for i = 1, rnd(0, max) do t[i] = pick(chars or CHARS) end
      return table.concat(t)
    end
    local NAME = { "a", "b", "X", "Y", "-", "0", "9", "z", "m" }
    local VALUE = { "a", "B", " ", "  ", "\t", "x", "é", "ሴ", "=", ";", ",", "\"", "/" }
    local SKIP = { connection = 1, expect = 1, ["keep-alive"] = 1, ["proxy-authenticate"] = 1,
      ["proxy-authorization"] = 1, te = 1, trailer = 1, ["transfer-encoding"] = 1, upgrade = 1,
      ["user-agent"] = 1, ["x-amzn-trace-id"] = 1, host = 1, authorization = 1, ["x-amz-date"] = 1,
      ["x-amz-security-token"] = 1, ["x-amz-content-sha256"] = 1, ["content-type"] = 1, date = 1 }

    local function random_case(presign)
      local service = pick { "s3", "dynamodb", "sqs", "execute-api", "sts", "s3" }
      local host = pick { "example.amazonaws.com", "127.0.0.1:4566", "Bucket.S3.amazonaws.com", "localhost:80",
        "h.example:443", "[::1]:9000" }
      local scheme = pick { "http", "https" }
      local segs = {}
      for i = 1, rnd(0, 4) do
        segs[i] = pick { encode(text(6), false), ".", "..", "", encode(text(3)) }
      end
      local path = "/" .. table.concat(segs, "/")
      if service == "s3" then path = path:gsub("/%.%.?/", "/x/"):gsub("/%.%.?$", "/x") end
      local q = {}
      local seen = {}
      for _ = 1, rnd(0, 4) do
        local k = encode(text(5))
        -- botocore's presigner parses the query and writes it again: it
        -- keeps one value per key and drops empty items.
        if not (presign and (seen[k] or k == "")) then
          seen[k] = true
          q[#q + 1] = rnd(1, 5) == 1 and k or (k .. "=" .. encode(text(6)))
        end
      end
      local url = scheme .. "://" .. host .. path .. (#q > 0 and ("?" .. table.concat(q, "&")) or "")
      local headers, lower = {}, {}
      for _ = 1, rnd(0, 4) do
        local name = "x-" .. text(6, NAME)
        if not lower[name:lower()] and not SKIP[name:lower()] then
          lower[name:lower()] = true
          headers[name] = text(3, { " ", "\t", "" }) .. text(10, VALUE) .. text(2, { " ", "" })
        end
      end
      if rnd(1, 3) == 1 then headers["Content-Type"] = "application/json" end
      if rnd(1, 4) == 1 then headers["User-Agent"] = "tide/1" end
      local token = rnd(1, 3) == 1 and ("TOKEN/" .. text(8, { "a", "+", "/", "=" })) or nil
      return {
        method = pick { "GET", "PUT", "POST", "DELETE", "HEAD" },
        url = url, headers = headers,
        body = (not presign and rnd(1, 2) == 1) and text(40) or "",
        access_key_id = pick { "AKIDEXAMPLE", "ASIA0000EXAMPLE" },
        secret_access_key = text(40, { "a", "B", "/", "+", "9" }),
        session_token = token,
        region = pick { "us-east-1", "eu-west-3", "ap-southeast-2" },
        service = service,
        date = rnd(1000000000, 2000000000),
        presign = presign and rnd(1, 604800) or nil,
        unsigned_payload = not presign and rnd(1, 4) == 1 or nil,
      }
    end

    local function run(presign)
      math.randomseed(seed + (presign and 1 or 0))
      local cases = {}
      for i = 1, 300 do
        local c = random_case(presign)
        c.amz_date = os.date("!%Y%m%dT%H%M%SZ", c.date)
        cases[i] = c
      end
      local want = botocore_sign(py, cases)
      for i, c in ipairs(cases) do
        local req = { method = c.method, url = c.url, headers = c.headers, body = c.body }
        local creds = { access_key_id = c.access_key_id, secret_access_key = c.secret_access_key,
          session_token = c.session_token }
        local opts = { region = c.region, service = c.service, date = c.date, presign = c.presign,
          unsigned_payload = c.unsigned_payload }
        local got = sign.sign(req, creds, opts)
        local why = ("case %d: %s\nours:\n%s\nbotocore's:\n%s"):format(i, tide.json.encode(c),
          sign.canonical_request(req, creds, opts), want[i].canonical)
        if presign then
          assert(got:match("X%-Amz%-Signature=(%x+)$") == want[i].url:match("X%-Amz%-Signature=(%x+)$"), why)
        else
          assert(got.authorization == want[i].authorization, why)
          for _, name in ipairs { "x-amz-date", "x-amz-security-token", "x-amz-content-sha256" } do
            assert(got[name] == want[i].headers[name], name .. ": " .. why)
          end
        end
      end
    end

    it("on 300 random requests signed in headers", function() run(false) end)
    it("on 300 random presigned URLs", function() run(true) end)
  end)
end)
