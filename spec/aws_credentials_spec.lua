-- tide.aws.credentials and tide.aws.config: every provider of the chain,
-- with a temporary HOME and shared files, an `env` table instead of the
-- process's environment (and one child process proving the real
-- os.getenv path), and spec/support/aws_creds.py on 127.0.0.1 standing in
-- for IMDS, the ECS endpoint and STS. A real ~/.aws is never read.
local helper = require "spec.helper"
local tide = require "tide"
local credentials = require "tide.aws.credentials"
local config = require "tide.aws.config"

local servers = require "spec.support.servers"
local CLEAN_ENV = servers.CLEAN_ENV

local spit, slurp, my_pid = servers.spit, servers.slurp, servers.my_pid

-- Starts aws_creds.py once for the file; returns {url=, port=, stop=}.
local responder
local function start_responder()
  if responder then return responder end
  local dir = helper.tmpdir()
  os.execute(("%spython3 spec/support/aws_creds.py --parent %d </dev/null >%s/port 2>%s/log &"):format(
    CLEAN_ENV, my_pid(), dir, dir))
  local line
  for _ = 1, 250 do
    line = (slurp(dir .. "/port") or ""):match("^(%d+ %d+)\n")
    if line then break end
    os.execute("sleep 0.02")
  end
  assert(line, "aws_creds.py did not start: " .. (slurp(dir .. "/log") or ""))
  local port, pid = line:match("^(%d+) (%d+)$")
  responder = { url = "http://127.0.0.1:" .. port, port = tonumber(port), pid = tonumber(pid) }
  function responder.stop()
    os.execute(("kill %d 2>/dev/null"):format(responder.pid))
    os.execute("rm -rf " .. dir)
    responder = nil
  end
  return responder
end

local function get(url)
  local res = tide.http.get(url):await()
  assert(res.status == 200, url .. ": HTTP " .. res.status)
  return res.body
end

local function hits(r, key) return tonumber(get(r.url .. "/hits?key=" .. key)) end

-- A fresh HOME with .aws/config and .aws/credentials holding `cfg` and
-- `creds`, and an env table pointing at it (IMDS off unless asked; the
-- directory is its HOME).
local function home(cfg, creds, env)
  local dir = helper.tmpdir()
  os.execute("mkdir -p " .. dir .. "/.aws")
  if cfg then spit(dir .. "/.aws/config", cfg) end
  if creds then spit(dir .. "/.aws/credentials", creds) end
  local e = { HOME = dir, AWS_EC2_METADATA_DISABLED = "true" }
  for k, v in pairs(env or {}) do e[k] = v end
  return e
end

local function resolve(env, opts)
  opts = opts or {}
  opts.env = env
  return credentials.resolve(opts)
end

local function creds_of(p) return helper.run_slow(function() return p:get():await() end) end

-- The first child process makes libuv open its SIGCHLD pipe, once for the
-- process's life: made here, before any test counts its descriptors.
tide.run(function() require("tide.core").proc_run("true", 5):await() end)

local function failure_of(p)
  return helper.run_slow(function() return helper.rejection(p:get()) end)
end

describe("tide.aws.config", function()
  it("parses profiles, comments and nested blocks", function()
    local s = config.parse("# c\n[default]\nregion = eu-west-1\n; c\n[profile dev]\nregion=us-east-2\n"
      .. "s3 =\n  addressing_style = path\n  max = 10\noutput = json\n")
    assert.equal("eu-west-1", s.default.region)
    assert.same({ addressing_style = "path", max = "10" }, s["profile dev"].s3)
    assert.equal("json", s["profile dev"].output)
  end)

  it("merges the two files, the credentials file winning", function()
    local env = home("[default]\nregion = r1\naws_access_key_id = FROMCONFIG\n[profile dev]\nregion = r2\n",
      "[default]\naws_access_key_id = FROMCREDS\naws_secret_access_key = S\n[dev]\naws_access_key_id = D\n")
    local c = config.load { env = env }
    assert.equal("default", c.profile_name)
    assert.equal("FROMCREDS", c.profile.aws_access_key_id)
    assert.equal("r1", c.profile.region)
    env.AWS_PROFILE = "dev"
    c = config.load { env = env }
    assert.equal("dev", c.profile_name)
    assert.is_true(c.explicit)
    assert.equal("r2", c.profile.region)
    assert.equal("D", c.profile.aws_access_key_id)
    assert.equal("r2", config.load({ env = env, profile = "dev" }).profile.region)
  end)

  it("follows AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE", function()
    local dir = helper.tmpdir()
    spit(dir .. "/c", "[profile x]\nregion = from-c\n")
    spit(dir .. "/k", "[x]\naws_access_key_id = K\n")
    local env = { HOME = "/nonexistent", AWS_CONFIG_FILE = dir .. "/c", AWS_SHARED_CREDENTIALS_FILE = dir .. "/k" }
    local c = config.load { env = env, profile = "x" }
    assert.equal("from-c", c.profile.region)
    assert.equal("K", c.profile.aws_access_key_id)
  end)

  it("finds the region: client, AWS_REGION, AWS_DEFAULT_REGION, profile", function()
    local env = home("[default]\nregion = from-profile\n")
    assert.equal("from-profile", config.region { env = env })
    env.AWS_DEFAULT_REGION = "from-default"
    assert.equal("from-default", config.region { env = env })
    env.AWS_REGION = "from-region"
    assert.equal("from-region", config.region { env = env })
    assert.equal("mine", config.region { env = env, region = "mine" })
    assert.is_nil(config.region { env = home() })
  end)

  it("finds the endpoint: client, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, profile", function()
    local env = home("[default]\nendpoint_url = http://profile\nservices = local\n"
      .. "[services local]\ndynamodb =\n  endpoint_url = http://svc-ddb\n")
    assert.equal("http://profile", config.endpoint("STS", { env = env }))
    assert.equal("http://svc-ddb", config.endpoint("DynamoDB", { env = env }))
    env.AWS_ENDPOINT_URL = "http://all"
    assert.equal("http://all", config.endpoint("STS", { env = env }))
    env.AWS_ENDPOINT_URL_STS = "http://sts"
    env.AWS_ENDPOINT_URL_SECRETS_MANAGER = "http://sm"
    assert.equal("http://sts", config.endpoint("STS", { env = env }))
    assert.equal("http://sm", config.endpoint("Secrets Manager", { env = env }))
    assert.equal("http://all", config.endpoint("DynamoDB", { env = env }))
    assert.equal("http://client", config.endpoint("STS", { env = env, endpoint = "http://client" }))
    env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true"
    assert.is_nil(config.endpoint("STS", { env = env }))
    assert.is_nil(config.endpoint("STS", { env = home() }))
  end)

  it("finds max_attempts: client, AWS_MAX_ATTEMPTS, profile", function()
    local env = home("[default]\nmax_attempts = 7\n")
    assert.equal(7, config.max_attempts { env = env })
    env.AWS_MAX_ATTEMPTS = "4"
    assert.equal(4, config.max_attempts { env = env })
    assert.equal(2, config.max_attempts { env = env, max_attempts = 2 })
    assert.is_nil(config.max_attempts { env = home() })
  end)
end)

describe("tide.aws.credentials", function()
  helper.setup()
  local r
  setup(function() r = start_responder() end)
  teardown(function() if responder then responder.stop() end end)

  it("uses the client's credentials table", function()
    local c = creds_of(resolve(home(), { credentials = { access_key_id = "A", secret_access_key = "S",
      session_token = "T" } }))
    assert.same({ access_key_id = "A", secret_access_key = "S", session_token = "T" }, c)
  end)

  it("calls a credentials function again when what it gave is about to expire", function()
    local calls = 0
    local p = resolve(home(), { credentials = function()
      calls = calls + 1
      return tide.sleep(0.01):next(function()
        return { access_key_id = "A" .. calls, secret_access_key = "S",
          expiration = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + (calls == 1 and 60 or 3600)) }
      end)
    end })
    helper.run_slow(function()
      assert.equal("A1", p:get():await().access_key_id)
      assert.equal("A2", p:get():await().access_key_id) -- 60 s left: refreshed
      assert.equal("A2", p:get():await().access_key_id) -- an hour left: cached
      assert.equal("A2", p:current().access_key_id)
    end)
    assert.equal(2, calls)
    assert.matches("credentials option", tostring(p))
  end)

  it("reads the environment, and skips it when a profile is named", function()
    local env = home(nil, "[dev]\naws_access_key_id = DEV\naws_secret_access_key = S\n",
      { AWS_ACCESS_KEY_ID = "ENV", AWS_SECRET_ACCESS_KEY = "S", AWS_SESSION_TOKEN = "T" })
    local p = resolve(env)
    local c = creds_of(p)
    assert.equal("ENV", c.access_key_id)
    assert.equal("T", c.session_token)
    assert.equal("env", p.source)
    assert.equal("DEV", creds_of(resolve(env, { profile = "dev" })).access_key_id)
  end)

  it("reads static keys from the shared files, for AWS_PROFILE too", function()
    local env = home("[profile cfg]\naws_access_key_id = CFG\naws_secret_access_key = S\n",
      "[default]\naws_access_key_id = DEF\naws_secret_access_key = S\naws_session_token = TOK\n")
    local c = creds_of(resolve(env))
    assert.equal("DEF", c.access_key_id)
    assert.equal("TOK", c.session_token)
    env.AWS_PROFILE = "cfg"
    assert.equal("CFG", creds_of(resolve(env)).access_key_id)
  end)

  it("fails with ProfileNotFound for a named profile in neither file", function()
    local err = failure_of(resolve(home(), { profile = "nope" }))
    assert.is_true(tide.is_error(err, "aws"))
    assert.equal("ProfileNotFound", err.code)
  end)

  it("runs credential_process", function()
    local dir = helper.tmpdir()
    spit(dir .. "/proc.sh", "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"PROC\", "
      .. "\"SecretAccessKey\": \"S\", \"SessionToken\": \"PT\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n")
    os.execute("chmod +x " .. dir .. "/proc.sh")
    local env = home("[default]\ncredential_process = " .. dir .. "/proc.sh\n")
    local c = creds_of(resolve(env))
    assert.equal("PROC", c.access_key_id)
    assert.equal("PT", c.session_token)
    assert.equal(4070908800, c.expiration)
    env = home("[default]\ncredential_process = /bin/false\n")
    assert.equal("CredentialProcessError", failure_of(resolve(env)).code)
    -- A failure says what the process wrote on standard error.
    spit(dir .. "/bad.sh", "#!/bin/sh\necho 'no token for you' >&2\nexit 7\n")
    os.execute("chmod +x " .. dir .. "/bad.sh")
    local err = failure_of(resolve(home("[default]\ncredential_process = " .. dir .. "/bad.sh\n")))
    assert.is_true(tide.is_error(err, "aws"))
    assert.equal("CredentialProcessError", err.code)
    assert.matches("failed (exit 7): no token for you", err.message, 1, true)
    assert.equal("no token for you\n", err.stderr)
    err = failure_of(resolve(home("[default]\ncredential_process = " .. dir .. "/no-such-program\n")))
    assert.equal("CredentialProcessError", err.code)
    spit(dir .. "/junk.sh", "#!/bin/sh\necho not json\n")
    os.execute("chmod +x " .. dir .. "/junk.sh")
    err = failure_of(resolve(home("[default]\ncredential_process = " .. dir .. "/junk.sh\n")))
    assert.matches("did not print a Version 1 JSON document", err.message, 1, true)
  end)

  it("runs credential_process on the loop: other tasks go on, a slow one is killed at the timeout", function()
    local dir = helper.tmpdir()
    spit(dir .. "/slow.sh", "#!/bin/sh\nsleep 0.3\necho '{\"Version\": 1, \"AccessKeyId\": \"SLOW\", "
      .. "\"SecretAccessKey\": \"S\"}'\n")
    os.execute("chmod +x " .. dir .. "/slow.sh")
    local env = home("[default]\ncredential_process = " .. dir .. "/slow.sh\n")
    helper.run(function()
      local ticks = 0
      local ticker = tide.spawn(function()
        for _ = 1, 100 do
          tide.sleep(0.01):await()
          ticks = ticks + 1
        end
      end)
      local c = resolve(env):get():await()
      assert.equal("SLOW", c.access_key_id)
      assert.is_true(ticks >= 5, "the loop ran while the process did: " .. ticks)
      ticker:cancel()
    end)
    local saved = credentials.PROCESS_TIMEOUT
    credentials.PROCESS_TIMEOUT = 0.1
    local ok, err = pcall(function()
      return failure_of(resolve(home("[default]\ncredential_process = sleep 5\n")))
    end)
    credentials.PROCESS_TIMEOUT = saved
    assert.is_true(ok, tostring(err))
    assert.matches("ran longer than 0.1 s and was killed", err.message, 1, true)
  end)

  it("assumes a role through STS with the source profile's keys", function()
    local env = home("[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\nsource_profile = base\n"
      .. "role_session_name = spec\nregion = us-west-2\n",
      "[base]\naws_access_key_id = SOURCEKEY\naws_secret_access_key = SOURCESECRET\n",
      { AWS_ENDPOINT_URL_STS = r.url, AWS_PROFILE = "dev" })
    local before = helper.run(function() return hits(r, "sts-AssumeRole") end)
    local p = resolve(env)
    local c = creds_of(p)
    assert.matches("^ASIA%d+$", c.access_key_id)
    assert.matches("^token%-%d+$", c.session_token)
    assert.is_true(c.expiration > os.time() + 3000)
    assert.equal("profile dev", p.source)
    assert.equal(before + 1, helper.run(function() return hits(r, "sts-AssumeRole") end))
  end)

  it("turns an STS error into an aws error", function()
    local env = home("[default]\nrole_arn = arn:aws:iam::1:role/denied\nsource_profile = base\n",
      "[base]\naws_access_key_id = SOURCEKEY\naws_secret_access_key = S\n", { AWS_ENDPOINT_URL = r.url })
    local err = failure_of(resolve(env))
    assert.is_true(tide.is_error(err, "aws"))
    assert.equal("AccessDenied", err.code)
    assert.equal(403, err.status)
    assert.equal("req-denied", err.request_id)
    assert.equal("sts", err.service)
    assert.equal("AssumeRole", err.operation)
  end)

  it("assumes a role with a web identity token", function()
    local dir = helper.tmpdir()
    spit(dir .. "/token", "web-token\n")
    local env = home(nil, nil, { AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/token",
      AWS_ROLE_ARN = "arn:aws:iam::1:role/web", AWS_ENDPOINT_URL_STS = r.url })
    local p = resolve(env)
    assert.matches("^ASIA%d+$", creds_of(p).access_key_id)
    assert.equal("web identity", p.source)
    spit(dir .. "/token", "other")
    assert.equal("InvalidIdentityToken", failure_of(resolve(env)).code)
  end)

  it("asks the ECS container endpoint, with its authorization token", function()
    local env = home(nil, nil, { AWS_CONTAINER_CREDENTIALS_FULL_URI = r.url .. "/ecs/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "ecs-secret" })
    local p = resolve(env)
    local c = creds_of(p)
    assert.matches("^ASIA%d+$", c.access_key_id)
    assert.equal("ecs", p.source)
    local dir = helper.tmpdir()
    spit(dir .. "/tok", "ecs-secret\n")
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN = "wrong"
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = dir .. "/tok" -- the file wins
    assert.matches("^ASIA%d+$", creds_of(resolve(env)).access_key_id)
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = nil
    assert.equal("InvalidResponse", failure_of(resolve(env)).code)
    -- plain http only to loopback or the ECS/EKS addresses
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://example.com/creds"
    assert.equal("InvalidConfig", failure_of(resolve(env)).code)
  end)

  it("asks EC2 instance metadata with an IMDSv2 token", function()
    local env = home(nil, nil, { AWS_EC2_METADATA_DISABLED = false, AWS_EC2_METADATA_SERVICE_ENDPOINT = r.url })
    env.AWS_EC2_METADATA_DISABLED = nil
    local before = helper.run(function()
      return { hits(r, "imds-token"), hits(r, "imds-role"), hits(r, "imds-creds") }
    end)
    local p = resolve(env)
    local c = creds_of(p)
    assert.matches("^ASIA%d+$", c.access_key_id)
    assert.equal("imds", p.source)
    local after = helper.run(function()
      return { hits(r, "imds-token"), hits(r, "imds-role"), hits(r, "imds-creds") }
    end)
    assert.same({ before[1] + 1, before[2] + 1, before[3] + 1 }, after)
  end)

  it("passes mfa_serial and the code mfa_token gives to AssumeRole", function()
    local cfg = "[profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/mfa-role\nsource_profile = base\n"
      .. "mfa_serial = arn:aws:iam::123456789012:mfa/spec\n"
    local keys = "[base]\naws_access_key_id = SOURCEKEY\naws_secret_access_key = SOURCESECRET\n"
    local env = home(cfg, keys, { AWS_ENDPOINT_URL_STS = r.url, AWS_PROFILE = "mfa" })
    local asked
    local c = creds_of(resolve(env, { mfa_token = function(serial)
      asked = serial
      return tide.resolve("123456")
    end }))
    assert.equal("arn:aws:iam::123456789012:mfa/spec", asked)
    assert.matches("^ASIA%d+$", c.access_key_id)
    assert.matches("^ASIA%d+$", creds_of(resolve(env, { mfa_token = "123456" })).access_key_id)
    local err = failure_of(resolve(env, { mfa_token = "000000" }))
    assert.equal("AccessDenied", err.code)
    err = failure_of(resolve(env))
    assert.equal("InvalidConfig", err.code)
    assert.matches("mfa_serial needs the client option mfa_token", err.message, 1, true)
  end)

  it("falls back to IMDSv1 when the token request says 405, unless v1 is disabled", function()
    local env = home(nil, nil, { AWS_EC2_METADATA_SERVICE_ENDPOINT = r.url .. "/v1only" })
    env.AWS_EC2_METADATA_DISABLED = nil
    local before = helper.run(function() return { hits(r, "imds-token"), hits(r, "imds-creds") } end)
    local p = resolve(env)
    assert.matches("^ASIA%d+$", creds_of(p).access_key_id)
    assert.equal("imds", p.source)
    local after = helper.run(function() return { hits(r, "imds-token"), hits(r, "imds-creds") } end)
    assert.same({ before[1] + 1, before[2] + 1 }, after)
    env.AWS_EC2_METADATA_V1_DISABLED = "true"
    local err = failure_of(resolve(env))
    assert.equal("CredentialsNotFound", err.code)
    assert.matches("token request: HTTP 405", err.message, 1, true)
  end)

  it("says what it tried when nothing gives credentials", function()
    local err = failure_of(resolve(home()))
    assert.is_true(tide.is_error(err, "aws"))
    assert.equal("CredentialsNotFound", err.code)
    for _, what in ipairs { "credentials option", "AWS_ACCESS_KEY_ID", "shared files", "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_CONTAINER_CREDENTIALS", "AWS_EC2_METADATA_DISABLED" } do
      assert.matches(what, err.message, 1, true)
    end
  end)

  it("refreshes expiring credentials with one request that 50 callers share", function()
    local env = home(nil, nil, { AWS_CONTAINER_CREDENTIALS_FULL_URI = r.url .. "/ecs/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "ecs-secret" })
    helper.run_slow(function()
      get(r.url .. "/set?expires_in=60&delay=200") -- inside the refresh window, slow answers
      local ok, err = pcall(function()
        local p = resolve(env)
        local function burst()
          local before = hits(r, "ecs")
          local ps = {}
          for i = 1, 50 do ps[i] = p:get() end
          local all = tide.all(ps):await()
          for i = 2, 50 do assert.equal(all[1], all[i]) end
          assert.equal(before + 1, hits(r, "ecs"))
          return all[1]
        end
        local first = burst()
        assert.is_nil(p:current()) -- 60 s left: not fresh
        local second = burst() -- refreshed, once
        assert.are_not.equal(first.access_key_id, second.access_key_id)
      end)
      get(r.url .. "/set?expires_in=3600&delay=0")
      if not ok then error(err, 0) end
    end)
  end)

  it("keeps credentials that have not expired when a refresh fails", function()
    local calls = 0
    local p = resolve(home(), { credentials = function()
      calls = calls + 1
      if calls > 1 then error(tide.error("aws", "down", { code = "Down" })) end
      return { access_key_id = "A", secret_access_key = "S", expiration = os.time() + 100 }
    end })
    helper.run_slow(function()
      assert.equal("A", p:get():await().access_key_id)
      assert.equal("A", p:get():await().access_key_id) -- the refresh failed: still valid
    end)
    assert.equal(2, calls)
  end)

  describe("against moto's STS, which checks signatures", function()
    local moto
    if not os.execute("command -v moto_server >/dev/null 2>&1") then
      pending("moto_server is not on this machine: the STS signature check against a real verifier is skipped")
      return
    end
    setup(function()
      local port = servers.closed_port()
      local dir = helper.tmpdir()
      -- The first three calls (the IAM set-up below) go unchecked; every
      -- later one must be signed by a key moto knows, with a policy that
      -- allows it.
      os.execute(("(INITIAL_NO_AUTH_ACTION_COUNT=3 %smoto_server -H 127.0.0.1 -p %d >%s/log 2>&1 & echo $! >%s/pid)")
        :format(CLEAN_ENV, port, dir, dir))
      moto = { url = "http://127.0.0.1:" .. port, dir = dir }
      for _ = 1, 300 do
        moto.pid = moto.pid or tonumber(slurp(dir .. "/pid") or "")
        if os.execute(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null"):format(port)) then break end
        os.execute("sleep 0.1")
      end
      local function iam(body)
        return helper.run_slow(function()
          local res = tide.http.post(moto.url .. "/", { body = body .. "&Version=2010-05-08",
            headers = { ["content-type"] = "application/x-www-form-urlencoded",
              authorization = "AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/us-east-1/iam/aws4_request, "
                .. "SignedHeaders=host, Signature=0" } }):await()
          assert(res.status == 200, body .. ": " .. res.body)
          return res.body
        end)
      end
      iam("Action=CreateUser&UserName=tide")
      iam("Action=PutUserPolicy&UserName=tide&PolicyName=all&PolicyDocument="
        .. "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C"
        .. "%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D")
      local key = iam("Action=CreateAccessKey&UserName=tide")
      moto.key = key:match("<AccessKeyId>([^<]+)</AccessKeyId>")
      moto.secret = key:match("<SecretAccessKey>([^<]+)</SecretAccessKey>")
      tide.http.close() -- no pooled connection left for the leak checks
    end)
    teardown(function()
      if moto and moto.pid then os.execute(("kill %d 2>/dev/null"):format(moto.pid)) end
      if moto then os.execute("rm -rf " .. moto.dir) end
    end)

    local function env_for(secret)
      return home("[default]\nrole_arn = arn:aws:iam::123456789012:role/tide\nsource_profile = base\n",
        ("[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"):format(moto.key, secret),
        { AWS_ENDPOINT_URL_STS = moto.url })
    end

    it("gives credentials for a correctly signed AssumeRole", function()
      local c = creds_of(resolve(env_for(moto.secret)))
      assert.matches("^ASIA", c.access_key_id)
      assert.is_string(c.session_token)
    end)

    it("says SignatureDoesNotMatch for a wrong secret", function()
      local err = failure_of(resolve(env_for("wrong-secret")))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("SignatureDoesNotMatch", err.code)
      assert.equal(403, err.status)
    end)
  end)

  it("reads the real environment through os.getenv (a child process)", function()
    local dir = home("[default]\nregion = child-region\n").HOME
    local vars = { "HOME=" .. dir, "PATH=" .. (os.getenv("PATH") or "/usr/bin:/bin"),
      "AWS_ACCESS_KEY_ID=CHILD", "AWS_SECRET_ACCESS_KEY=S", "AWS_SESSION_TOKEN=CT",
      "AWS_EC2_METADATA_DISABLED=true",
      ("LUA_PATH=%s"):format(package.path), ("LUA_CPATH=%s"):format(package.cpath) }
    for _, k in ipairs { "LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS" } do
      if os.getenv(k) then vars[#vars + 1] = k .. "=" .. os.getenv(k) end
    end
    local quoted = {}
    for i, v in ipairs(vars) do quoted[i] = ("%q"):format(v) end
    local code = [[
      local tide = require "tide"
      local c = tide.await(require("tide.aws.credentials").resolve():get())
      io.write(c.access_key_id, " ", c.session_token, " ", require("tide.aws.config").region(), "\n")
    ]]
    local script = helper.tmpdir() .. "/child.lua"
    spit(script, code)
    local p = io.popen(("env -i %s lua5.4 %s 2>&1"):format(table.concat(quoted, " "), script))
    local out = p:read("a")
    p:close()
    assert.equal("CHILD CT child-region\n", out)
  end)
end)
