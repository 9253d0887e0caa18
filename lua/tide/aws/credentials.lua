--- AWS credentials, found as the SDKs' default chain finds them, cached,
--- and refreshed before they expire by one refresh that every waiting call
--- shares.
---
---     local credentials = require "tide.aws.credentials"
---     local p = credentials.resolve(opts)
---     local c = p:get():await()   -- {access_key_id=, secret_access_key=,
---                                 --  session_token=, expiration=}
---
--- `opts` is the client's options table; read here (and not checked: the
--- client checks its own): `credentials` (a table of the fields above, or a
--- function returning one or a promise of one; called again for each
--- refresh when what it gave has an `expiration`), `profile`, `region`
--- (for STS), `http` (a tide.http client for the calls to STS, ECS and
--- IMDS; default: tide.http's own), `env` (see tide.aws.config: where
--- environment variables are read). `expiration` is a Unix time.
---
--- The chain, first that applies wins and is kept for later refreshes:
---   1. opts.credentials
---   2. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN,
---      AWS_CREDENTIAL_EXPIRATION); skipped when opts.profile names a profile
---   3. the profile in the shared files (tide.aws.config): role_arn with
---      source_profile, credential_source (Environment, EcsContainer,
---      Ec2InstanceMetadata) or web_identity_token_file -> STS AssumeRole /
---      AssumeRoleWithWebIdentity; aws_access_key_id + aws_secret_access_key
---      (+ aws_session_token); credential_process (its JSON, Version 1;
---      a child process on the loop: the loop goes on meanwhile)
---   4. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+
---      AWS_ROLE_SESSION_NAME) -> STS AssumeRoleWithWebIdentity
---   5. the ECS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
---      (on 169.254.170.2) or _FULL_URI (https, or http to a loopback
---      address or the ECS/EKS link-local hosts), with
---      AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) as its Authorization
---   6. EC2 instance metadata, IMDSv2 (a token PUT, then GETs; IMDSv1,
---      GETs without a token, when the PUT says 403, 404 or 405, unless
---      AWS_EC2_METADATA_V1_DISABLED / ec2_metadata_v1_disabled is true):
---      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254),
---      none when AWS_EC2_METADATA_DISABLED=true
--- STS is reached at config.endpoint("STS", ...) (AWS_ENDPOINT_URL_STS,
--- AWS_ENDPOINT_URL, the profile's endpoint_url), else
--- https://sts.<region>.amazonaws.com, region from config.region (default
--- us-east-1).
---
--- Failures reject with `aws` errors: code "CredentialsNotFound" when no
--- source applies (its message lists what was tried), "ProfileNotFound"
--- for a named profile in neither file, "InvalidConfig", "CredentialProcessError",
--- "InvalidResponse", or STS's own code (with status, request_id, service,
--- operation); a network failure is the `cause`.
---
--- A provider `p`:
---   p:get()        -> promise of the credentials (cached; refreshed 5 min
---                     before `expiration`; while a refresh runs, every get
---                     waits for that one; if it fails while the old ones
---                     have not expired yet, those are given)
---   p:current()    -> the cached credentials when fresh, else nil (a fast
---                     path that makes no promise)
---   p:invalidate() -> the next get fetches again (after ExpiredToken)
---   p.source       -> where the credentials came from ("env", "profile
---                     dev", ...), once found
-- @module tide.aws.credentials
local tide = require "tide"
local core = require "tide.core"
local config = require "tide.aws.config"
local sign = require "tide.aws.sign"

local type, pairs, ipairs, tostring, error, pcall = type, pairs, ipairs, tostring, error, pcall
local os_time = os.time

local M = {}

--- Seconds before `expiration` at which credentials are refreshed.
M.REFRESH_BEFORE = 300

local function aws_error(code, message, fields)
  fields = fields or {}
  fields.code = code
  return tide.error("aws", message, fields)
end

-- ---- helpers -------------------------------------------------------------

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

--- Unix time of an ISO 8601 date ("2026-12-02T01:23:45Z", with fractions
--- or an offset), or of a number; nil when it is neither.
--- @param s any
--- @return integer|nil
function M.parse_time(s)
  if type(s) == "number" then return math.floor(s) end
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  rest = rest:gsub("^%.%d+", "")
  local offset = 0
  if rest ~= "" and rest ~= "Z" and rest ~= "z" then
    local sign_, oh, om = rest:match("^([%+%-])(%d%d):?(%d%d)$")
    if not sign_ then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign_ == "-" and -1 or 1)
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) - offset
end

local function check_creds(c, where)
  if type(c) ~= "table" or type(c.access_key_id) ~= "string" or type(c.secret_access_key) ~= "string"
    or c.access_key_id == "" or c.secret_access_key == "" then
    error(aws_error("InvalidCredentials",
      ("%s: credentials need access_key_id and secret_access_key (strings)"):format(where)), 0)
  end
  local token = c.session_token
  if token == "" then token = nil end
  local exp = c.expiration
  if exp ~= nil then
    exp = M.parse_time(exp)
    if not exp then
      error(aws_error("InvalidCredentials", where .. ": bad expiration " .. tostring(c.expiration)), 0)
    end
  end
  return { access_key_id = c.access_key_id, secret_access_key = c.secret_access_key,
    session_token = token, expiration = exp }
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

local function http(ctx, req)
  req.timeout = req.timeout or 5
  local client = ctx.opts.http
  local ok, res
  if client then
    ok, res = tide.pawait(client:request(req))
  else
    ok, res = tide.pawait(tide.http.request(req))
  end
  return ok, res
end

-- SigV4's encoding, for form bodies (a `+` would be read as a space).
local function encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function form(params)
  local keys, out = {}, {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do out[i] = encode(k) .. "=" .. encode(params[k]) end
  return table.concat(out, "&")
end

-- The text of every leaf element of an XML document, by element name (the
-- STS answers are flat enough for that).
local function xml_leaves(text)
  local lxp = require "lxp"
  local fields, buf = {}, nil
  local parser = lxp.new {
    StartElement = function() buf = {} end,
    CharacterData = function(_, s) if buf then buf[#buf + 1] = s end end,
    EndElement = function(_, name)
      if buf then fields[name] = table.concat(buf) end
      buf = nil
    end,
  }
  local ok, err = parser:parse(text)
  if ok then ok, err = parser:parse() end
  parser:close()
  if not ok then return nil, err end
  return fields
end

-- ---- STS -------------------------------------------------------------------

local function sts_call(ctx, action, params, source_creds)
  local sts_opts = { profile = ctx.opts.profile, env = ctx.opts.env, region = ctx.opts.region }
  local region = config.region(sts_opts) or "us-east-1"
  local endpoint = config.endpoint("STS", sts_opts) or ("https://sts.%s.amazonaws.com"):format(region)
  local url = endpoint:gsub("/+$", "") .. "/"
  params.Action, params.Version = action, "2011-06-15"
  local body = form(params)
  local headers = { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8" }
  if source_creds then
    headers = sign.sign({ method = "POST", url = url, headers = headers, body = body }, source_creds,
      { region = region, service = "sts" })
  end
  local ok, res = http(ctx, { method = "POST", url = url, headers = headers, body = body })
  local fields = { service = "sts", operation = action }
  if not ok then
    fields.cause = res
    error(aws_error("NetworkError", ("STS %s at %s failed: %s"):format(action, url, tostring(res)), fields), 0)
  end
  local leaves, perr = xml_leaves(res.body or "")
  fields.status = res.status
  fields.request_id = leaves and leaves.RequestId or res.headers["x-amzn-requestid"]
  if res.status ~= 200 or not leaves then
    local code = leaves and leaves.Code or "InvalidResponse"
    local msg = leaves and leaves.Message or perr or ("HTTP " .. res.status)
    error(aws_error(code, ("STS %s: %s"):format(action, msg), fields), 0)
  end
  if not leaves.AccessKeyId or not leaves.SecretAccessKey then
    error(aws_error("InvalidResponse", ("STS %s: no credentials in the answer"):format(action), fields), 0)
  end
  return check_creds({ access_key_id = leaves.AccessKeyId, secret_access_key = leaves.SecretAccessKey,
    session_token = leaves.SessionToken, expiration = leaves.Expiration }, "STS " .. action)
end

local function session_name(name)
  return name or ("tide-" .. os_time())
end

local function web_identity(ctx, role_arn, token_file, name)
  local token, err = read_file(token_file)
  if not token then
    error(aws_error("InvalidConfig", "web identity token file: " .. tostring(err)), 0)
  end
  return sts_call(ctx, "AssumeRoleWithWebIdentity", { RoleArn = role_arn,
    RoleSessionName = session_name(name), WebIdentityToken = token:gsub("%s+$", "") })
end

-- ---- the providers -----------------------------------------------------------
-- Each returns credentials, or nil and why it did not apply; it raises
-- when it applies but fails.

local providers = {}

function providers.explicit(ctx)
  local c = ctx.opts.credentials
  if c == nil then return nil, "no credentials option" end
  if type(c) == "function" then c = tide.await(c()) end
  return check_creds(c, "the credentials option"), "credentials option"
end

function providers.env(ctx)
  if ctx.opts.profile then return nil, "environment skipped (a profile was named)" end
  local getenv = ctx.getenv
  local id, secret = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
  if not id or id == "" or not secret or secret == "" then
    return nil, "environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY not set)"
  end
  return check_creds({ access_key_id = id, secret_access_key = secret,
    session_token = getenv("AWS_SESSION_TOKEN"), expiration = getenv("AWS_CREDENTIAL_EXPIRATION") },
    "environment"), "env"
end

-- credential_process: the command runs through /bin/sh as a child process
-- on the loop (other tasks go on meanwhile), at most PROCESS_TIMEOUT
-- seconds and 1 MiB of output; a failure's message carries what it wrote
-- on standard error (also as the error's `stderr`).
M.PROCESS_TIMEOUT = 60

local function process(cmd, where)
  local r = core.proc_run(cmd, M.PROCESS_TIMEOUT, 1048576):await()
  local stderr = (r.stderr or ""):gsub("%s+$", "")
  local function fail(what)
    error(aws_error("CredentialProcessError", ("%s: credential_process %q %s%s"):format(where, cmd, what,
      stderr ~= "" and (": " .. stderr) or ""), { stderr = r.stderr }), 0)
  end
  if r.spawn_error then fail("could not start (" .. r.spawn_error .. ")") end
  if r.timed_out then fail(("ran longer than %g s and was killed"):format(M.PROCESS_TIMEOUT)) end
  if r.too_long then fail("wrote more than 1 MiB and was killed") end
  if r.signal then fail("was killed by signal " .. r.signal) end
  if r.status ~= 0 then fail(("failed (exit %d)"):format(r.status)) end
  local dok, doc = pcall(tide.json.decode, r.stdout)
  if not dok or type(doc) ~= "table" or doc.Version ~= 1 then
    fail("did not print a Version 1 JSON document")
  end
  return check_creds({ access_key_id = doc.AccessKeyId, secret_access_key = doc.SecretAccessKey,
    session_token = doc.SessionToken, expiration = doc.Expiration }, where .. " credential_process")
end

local function static_keys(p)
  if p.aws_access_key_id and p.aws_secret_access_key then
    return { access_key_id = p.aws_access_key_id, secret_access_key = p.aws_secret_access_key,
      session_token = p.aws_session_token }
  end
end

local profile_creds

local function role(ctx, name, p, seen)
  local where = ("profile %s"):format(name)
  local source
  if p.source_profile then
    local src = p.source_profile
    local sp = ctx.cfg.profiles[src]
    if not sp then
      error(aws_error("ProfileNotFound", ("%s: source_profile %s is in neither file"):format(where, src)), 0)
    end
    if src == name then
      source = static_keys(sp)
      if not source then
        error(aws_error("InvalidConfig", where .. ": source_profile is itself but has no keys"), 0)
      end
    else
      if seen[src] then
        error(aws_error("InvalidConfig", ("%s: source_profile loop through %s"):format(where, src)), 0)
      end
      source = profile_creds(ctx, src, seen)
      if not source then
        error(aws_error("InvalidConfig", ("%s: source_profile %s has no credentials"):format(where, src)), 0)
      end
    end
  elseif p.credential_source then
    local cs = p.credential_source
    local fn = cs == "Environment" and providers.env_any or cs == "EcsContainer" and providers.ecs
      or cs == "Ec2InstanceMetadata" and providers.imds
    if not fn then
      error(aws_error("InvalidConfig", ("%s: unknown credential_source %s"):format(where, cs)), 0)
    end
    local why
    source, why = fn(ctx)
    if not source then error(aws_error("InvalidConfig", ("%s: credential_source %s: %s"):format(where, cs, why)), 0) end
  elseif p.web_identity_token_file then
    return web_identity(ctx, p.role_arn, p.web_identity_token_file, p.role_session_name)
  else
    error(aws_error("InvalidConfig", where .. ": role_arn needs source_profile, credential_source "
      .. "or web_identity_token_file"), 0)
  end
  local params = { RoleArn = p.role_arn, RoleSessionName = session_name(p.role_session_name) }
  if p.mfa_serial then
    -- The code comes from the client's mfa_token: a string, or a function
    -- of the device's serial giving one (or a promise of one).
    local give = ctx.opts.mfa_token
    if give == nil then
      error(aws_error("InvalidConfig", where .. ": mfa_serial needs the client option mfa_token "
        .. "(a function of the serial number giving the current code)"), 0)
    end
    local code = give
    if type(give) ~= "string" then
      code = tide.resolve(give(p.mfa_serial)):await()
    end
    if type(code) ~= "string" and type(code) ~= "number" then
      error(aws_error("InvalidConfig", ("%s: mfa_token gave %s, not a code"):format(where, type(code))), 0)
    end
    params.SerialNumber, params.TokenCode = p.mfa_serial, tostring(code)
  end
  if p.external_id then params.ExternalId = p.external_id end
  if p.duration_seconds then params.DurationSeconds = p.duration_seconds end
  return sts_call(ctx, "AssumeRole", params, source)
end

-- The credentials of profile `name`, or nil when it has none of its own.
function profile_creds(ctx, name, seen)
  seen = seen or {}
  seen[name] = true
  local p = ctx.cfg.profiles[name]
  if not p then return nil end
  if p.role_arn then return role(ctx, name, p, seen) end
  local keys = static_keys(p)
  if keys then return check_creds(keys, "profile " .. name) end
  if p.credential_process then return process(p.credential_process, "profile " .. name) end
  return nil
end

function providers.profile(ctx)
  local cfg = ctx.cfg
  local name = cfg.profile_name
  if not cfg.exists then
    if cfg.explicit then
      error(aws_error("ProfileNotFound", ("profile %s is in neither %s nor %s"):format(
        name, cfg.config_path, cfg.credentials_path)), 0)
    end
    return nil, ("shared files (no profile %s in %s or %s)"):format(name, cfg.config_path, cfg.credentials_path)
  end
  local c = profile_creds(ctx, name)
  if not c then return nil, ("shared files (profile %s has no credentials)"):format(name) end
  return c, "profile " .. name
end

function providers.web_identity(ctx)
  local file, arn = ctx.getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), ctx.getenv("AWS_ROLE_ARN")
  if not file or file == "" or not arn or arn == "" then
    return nil, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN not set)"
  end
  return web_identity(ctx, arn, file, ctx.getenv("AWS_ROLE_SESSION_NAME")), "web identity"
end

-- For credential_source = Environment: the variables even with a profile named.
function providers.env_any(ctx)
  local saved = ctx.opts
  ctx.opts = setmetatable({ profile = false }, { __index = saved })
  local ok, c, why = pcall(providers.env, ctx)
  ctx.opts = saved
  if not ok then error(c, 0) end
  return c, why
end

local ECS_HOST = "http://169.254.170.2"

local function allowed_full_uri(uri)
  if uri:match("^[hH][tT][tT][pP][sS]://") then return true end
  local host = uri:match("^[hH][tT][tT][pP]://%[([^%]]+)%]") or uri:match("^[hH][tT][tT][pP]://([^/:?#]+)")
  if not host then return false end
  host = host:lower()
  return host == "localhost" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil or host == "::1"
    or host == "169.254.170.2" or host == "169.254.170.23" or host == "fd00:ec2::23"
end

function providers.ecs(ctx)
  local getenv = ctx.getenv
  local rel, full = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
  local url
  if rel and rel ~= "" then
    url = ECS_HOST .. rel
  elseif full and full ~= "" then
    if not allowed_full_uri(full) then
      error(aws_error("InvalidConfig", ("AWS_CONTAINER_CREDENTIALS_FULL_URI %s: http only to a loopback "
        .. "or the ECS/EKS link-local address"):format(full)), 0)
    end
    url = full
  else
    return nil, "ECS container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI not set)"
  end
  local headers = {}
  local token_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  local token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
  if token_file and token_file ~= "" then
    local err
    token, err = read_file(token_file)
    if not token then error(aws_error("InvalidConfig", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " .. err), 0) end
    token = token:gsub("%s+$", "")
  end
  if token and token ~= "" then headers.Authorization = token end
  local ok, res = http(ctx, { method = "GET", url = url, headers = headers, timeout = 2 })
  if not ok then
    error(aws_error("NetworkError", ("ECS container endpoint %s: %s"):format(url, tostring(res)),
      { cause = res }), 0)
  end
  local dok, doc = pcall(tide.json.decode, res.body or "")
  if res.status ~= 200 or not dok or type(doc) ~= "table" then
    error(aws_error("InvalidResponse", ("ECS container endpoint %s answered HTTP %d"):format(url, res.status),
      { status = res.status }), 0)
  end
  return check_creds({ access_key_id = doc.AccessKeyId, secret_access_key = doc.SecretAccessKey,
    session_token = doc.Token, expiration = doc.Expiration }, "ECS container endpoint"), "ecs"
end

local function truthy(v) return type(v) == "string" and v:lower() == "true" end

function providers.imds(ctx)
  local getenv = ctx.getenv
  if truthy(getenv("AWS_EC2_METADATA_DISABLED")) then
    return nil, "EC2 instance metadata (AWS_EC2_METADATA_DISABLED=true)"
  end
  local base = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT") or ctx.cfg.profile.ec2_metadata_service_endpoint
    or "http://169.254.169.254"
  base = base:gsub("/+$", "")
  local ok, res = http(ctx, { method = "PUT", url = base .. "/latest/api/token", timeout = 1,
    headers = { ["x-aws-ec2-metadata-token-ttl-seconds"] = "21600" } })
  if not ok then return nil, ("EC2 instance metadata (no answer from %s: %s)"):format(base, tostring(res)) end
  local hdr
  if res.status == 200 then
    hdr = { ["x-aws-ec2-metadata-token"] = res.body }
  elseif (res.status == 403 or res.status == 404 or res.status == 405)
    and not truthy(getenv("AWS_EC2_METADATA_V1_DISABLED") or ctx.cfg.profile.ec2_metadata_v1_disabled) then
    -- No IMDSv2 there: IMDSv1, GETs without a token (as the SDKs fall back).
    hdr = {}
  else
    return nil, ("EC2 instance metadata (token request: HTTP %d from %s)"):format(res.status, base)
  end
  local path = base .. "/latest/meta-data/iam/security-credentials/"
  ok, res = http(ctx, { method = "GET", url = path, headers = hdr, timeout = 1 })
  if not ok or res.status ~= 200 then
    return nil, ("EC2 instance metadata (no instance role at %s)"):format(base)
  end
  local role_name = (res.body or ""):match("^%s*([^\r\n]+)")
  if not role_name then return nil, ("EC2 instance metadata (no instance role at %s)"):format(base) end
  ok, res = http(ctx, { method = "GET", url = path .. role_name, headers = hdr, timeout = 1 })
  if not ok then
    error(aws_error("NetworkError", ("EC2 instance metadata %s: %s"):format(base, tostring(res)), { cause = res }), 0)
  end
  local dok, doc = pcall(tide.json.decode, res.body or "")
  if res.status ~= 200 or not dok or type(doc) ~= "table" or (doc.Code and doc.Code ~= "Success") then
    error(aws_error("InvalidResponse", ("EC2 instance metadata: HTTP %d for role %s"):format(res.status, role_name),
      { status = res.status }), 0)
  end
  return check_creds({ access_key_id = doc.AccessKeyId, secret_access_key = doc.SecretAccessKey,
    session_token = doc.Token, expiration = doc.Expiration }, "EC2 instance metadata"), "imds"
end

local CHAIN = { "explicit", "env", "profile", "web_identity", "ecs", "imds" }

-- ---- the provider object ---------------------------------------------------

local Provider = {}
Provider.__index = Provider
Provider.__name = "tide.aws.credentials"

function Provider:__tostring()
  return ("tide.aws.credentials (%s)"):format(self.source or "not resolved yet")
end

local function new_ctx(self)
  local ctx = { opts = self._opts, getenv = config.getenv(self._opts) }
  return setmetatable(ctx, { __index = function(t, k)
    if k == "cfg" then
      local cfg = config.load(self._opts)
      rawset(t, "cfg", cfg)
      return cfg
    end
  end })
end

-- Runs the chain (or the source found before): credentials, and their source.
local function fetch(self)
  local ctx = new_ctx(self)
  if self._provider then
    local c = providers[self._provider](ctx)
    if not c then
      error(aws_error("CredentialsNotFound", ("the credentials from %s are gone"):format(self.source)), 0)
    end
    return c
  end
  local tried = {}
  for _, name in ipairs(CHAIN) do
    local c, why = providers[name](ctx)
    if c then
      self._provider, self.source = name, why
      return c
    end
    tried[#tried + 1] = why
  end
  error(aws_error("CredentialsNotFound", "no AWS credentials found; tried: " .. table.concat(tried, "; ")), 0)
end

local function fresh(c, now)
  return c and (c.expiration == nil or now < c.expiration - M.REFRESH_BEFORE)
end

local function refresh(self)
  local ok, res = pcall(fetch, self)
  self._inflight = nil
  if ok then
    self._creds = res
    return res
  end
  local old = self._creds
  if old and old.expiration and os_time() < old.expiration then return old end
  error(res, 0)
end

local function identity(c) return c end

--- A promise of the credentials (see the top).
--- @return tide.promise
function Provider:get()
  local c = self._creds
  if fresh(c, os_time()) then return tide.resolve(c) end
  local task = self._inflight
  if not task then
    task = tide.spawn(refresh, self)
    -- A task runs at once until it first waits: one that finished already
    -- (nothing to fetch over the network) is no refresh in flight.
    if task:state() == "pending" then self._inflight = task end
  end
  return task:next(identity)
end

--- The cached credentials when they are fresh, else nil.
--- @return table|nil
function Provider:current()
  local c = self._creds
  if fresh(c, os_time()) then return c end
  return nil
end

--- Drops the cached credentials: the next get fetches again.
function Provider:invalidate()
  self._creds = nil
end

--- A provider for the client options `opts` (see the top).
--- @param opts table|nil
--- @return table
function M.resolve(opts)
  opts = opts or {}
  local c = opts.credentials
  if c ~= nil and type(c) ~= "table" and type(c) ~= "function" then
    error(tide.error("usage", ("bad option 'credentials' (table or function expected, got %s)"):format(type(c))), 2)
  end
  return setmetatable({ _opts = opts }, Provider)
end

M.providers = providers
M.Provider = Provider

return M
