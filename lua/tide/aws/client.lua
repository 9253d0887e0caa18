--- AWS service clients: `client:send("ListTables", params, opts)` and its
--- snake_case forms (`client:list_tables(params, opts)`), each a promise of
--- the output table with `metadata` {status, request_id, attempts,
--- total_retry_delay}, signed with SigV4 and retried in the SDKs' standard
--- mode.
-- @module tide.aws.client
local core = require "tide.core"
local check = require "tide.check"
local signal = require "tide.signal"
local http = require "tide.http"
local protocols = require "tide.aws.protocols"
local restxml = require "tide.aws.restxml"
local errors = require "tide.aws.errors"
local retry = require "tide.aws.retry"
local services = require "tide.aws.services"

local type, pairs, setmetatable, getmetatable, tostring, error = type, pairs, setmetatable, getmetatable,
  tostring, error
local spawn, pawait, is_error = core.spawn, core.pawait, core.is_error
local floor = math.floor

local sign = require "tide.aws.sign"
local credentials = require "tide.aws.credentials"
local config = require "tide.aws.config"

local M = {}

--- @class tide.aws.client
--- @field service string  the service's id ("DynamoDB")
--- @field region string
--- @field endpoint string
local Client = {}
M.Client = Client

local client_options = {
  region = "string", endpoint = "string", credentials = "any", profile = "string", max_attempts = "number",
  mfa_token = "any",
  timeout = "number", connect_timeout = "number", http = "table", force_path_style = "boolean",
  -- aws.client only:
  protocol = "string", version = "string", target_prefix = "string", signing_name = "string",
  json_version = "string", endpoint_prefix = "string",
}
M.OPTIONS = client_options

local call_options = { signal = true, timeout = true, max_attempts = true }
local NO_OPTS = setmetatable({}, { __newindex = function() error("tide.aws: NO_OPTS is read-only", 2) end })
M.CALL_OPTIONS = call_options

local function usage(level, fmt, ...)
  error(core.error("usage", fmt:format(...)), level + 1)
end

-- ---------------------------------------------------------------------------
-- Construction

local function check_option_types(opts, fname, level)
  for k, v in pairs(opts) do
    local want = client_options[k]
    if want ~= "any" and type(v) ~= want then
      usage(level + 1, "bad option '%s' to %s (%s expected, got %s)", k, fname, want, type(v))
    end
  end
  local c = opts.credentials
  if c ~= nil and type(c) ~= "table" and not check.is_callable(c) then
    usage(level + 1, "bad option 'credentials' to %s (table or function expected, got %s)", fname, type(c))
  end
  if opts.max_attempts ~= nil and (math.type(opts.max_attempts) ~= "integer" or opts.max_attempts < 1) then
    usage(level + 1, "bad option 'max_attempts' to %s (positive integer expected)", fname)
  end
  local m = opts.mfa_token
  if m ~= nil and type(m) ~= "string" and not check.is_callable(m) then
    usage(level + 1, "bad option 'mfa_token' to %s (string or function expected, got %s)", fname, type(m))
  end
end

--- A client of `service` (a table of tide.aws.services). `opts` as
--- aws.client's.
--- @return tide.aws.client
function M.new(service, opts, fname, level)
  level = (level or 2) + 1
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("bad argument #1 to '%s' (options table expected, got %s)"):format(fname, type(opts)), level)
  end
  check.options(opts, client_options, fname, 1, level)
  check_option_types(opts, fname, level)
  local region = config.region(opts)
  if not region then
    usage(level, "%s: no region: pass region= or set AWS_REGION", fname)
  end
  local endpoint = config.endpoint(service.id, opts)
    or ("https://%s.%s.amazonaws.com"):format(service.endpoint_prefix, region)
  if type(endpoint) ~= "string" or not endpoint:match("^https?://[^/]") then
    usage(level, "%s: bad endpoint '%s' (http:// or https:// URL expected)", fname, tostring(endpoint))
  end
  local max_attempts = opts.max_attempts
  if not max_attempts then max_attempts = config.max_attempts(opts) end
  max_attempts = math.tointeger(tonumber(max_attempts))
  local self = setmetatable({
    service = service.id, region = region, endpoint = endpoint:gsub("/+$", ""),
    _service = service, _max_attempts = max_attempts and max_attempts >= 1 and max_attempts or retry.MAX_ATTEMPTS,
    _timeout = opts.timeout, _connect_timeout = opts.connect_timeout,
    _provider = credentials.resolve(opts),
    _quota = retry.quota(), _skew = 0, _urls = {}, _closed = false,
    _sign_req = {}, _sign_opts = { region = region, service = service.signing_name },
    _signing_name = service.signing_name, _sign_fast = service.signing_name ~= "s3",
  }, Client)
  if opts.http then
    self._http = opts.http
  else
    self._http, self._own_http = http.client {}, true
  end
  return self
end

-- ---------------------------------------------------------------------------
-- One attempt

-- Sends the request once, signed for `date` (a Unix time): a promise of
-- the response. `body` is this attempt's body when it is not the string
-- req.body (a file's chunks, a stream: sent with req.length).
local function transmit(self, req, url, creds, date, timeout, body, whole_file)
  local ropts = { method = req.method, url = url, body = body or req.body, timeout = timeout,
                  connect_timeout = self._connect_timeout, decompress = false }
  if body and not whole_file then ropts.content_length = req.length end
  if req.stream then ropts.stream = true end
  if req.output then ropts.output = req.output end
  if req.on_progress then ropts.on_progress = req.on_progress end
  -- A new table: the request's headers and the signature's. A plain
  -- string body of a service other than S3 goes through the lighter entry.
  local rbody = req.body
  if self._sign_fast and not body and not req.unsigned and (rbody == nil or type(rbody) == "string") then
    ropts.headers = sign.client_headers(req.method, url, req.headers, rbody, creds, self.region,
      self._signing_name, floor(date))
    return self._http:request(ropts)
  end
  -- sign runs to completion, so the client's two argument tables are reused.
  local sreq, sopts = self._sign_req, self._sign_opts
  sreq.method, sreq.url, sreq.headers, sreq.body = req.method, url, req.headers, not body and req.body or nil
  sopts.date, sopts.unsigned_payload = date, req.unsigned or nil
  ropts.headers = sign.sign(sreq, creds, sopts)
  return self._http:request(ropts)
end

-- The body of a request whose Body is a file, before any attempt: checks
-- that it is there (a `usage` error if not), sets req.start (the offset
-- given, or a tide.file's position) and req.length (ContentLength, or the
-- rest of the file), and signs the range's SHA-256, computed in C in
-- libuv's thread pool (the bytes never become Lua strings).
local function prepare_file(req)
  local fs = require "tide.fs"
  local size, fd, close_fd
  if req.body_path then
    local ok, st = pawait(fs.stat(req.body_path))
    if not ok or st.type ~= "file" then
      local why = ok and "not a regular file" or tostring(st.message or st)
      error(core.error("usage", ("Body {file = '%s'}: %s"):format(req.body_path, why),
        { path = req.body_path, cause = not ok and st or nil }), 0)
    end
    size = st.size
    req.start = req.start or 0
    fd = core.fs_open(req.body_path, "r"):await()
    close_fd = true
  else
    req.start = req.start or req.body_file:seek("cur"):await()
    size = req.body_file:size():await()
    fd = req.body_file._fd
  end
  local ok, hash = pcall(function()
    req.length = req.length or (size > req.start and size - req.start or 0)
    if req.start + req.length > size then
      error(core.error("usage", ("Body: %d bytes from %d pass the end of the file (%d bytes)"):format(
        req.length, req.start, size), { path = req.body_path }), 0)
    end
    return core.sigv4_sha256_file(fd, req.start, req.length, req.body_path):await()
  end)
  if close_fd then core.fs_close_now(fd) end
  if not ok then error(hash, 0) end
  req.headers["x-amz-content-sha256"] = hash
end

-- This attempt's body for a list of pieces, a file or a stream: a file is
-- the byte range tide.http reads in C and sends with its size.
local function attempt_body(req)
  if req.body_path or req.body_file then
    return { file = req.body_path or req.body_file, offset = req.start, length = req.length }, true
  elseif req.pieces then
    return require("tide.stream").from(req.pieces), false
  end
  return req.upload, false
end

-- The body of a streamed answer that is an error (read whole: it is small).
local function read_error_body(res)
  local parts, n = {}, 0
  for chunk in res:chunks() do
    n = n + #chunk
    if n <= 1048576 then parts[#parts + 1] = chunk end
  end
  return table.concat(parts)
end

local REQUEST_ID_HEADERS = { "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2" }

-- The request id a response's headers carry. Without the headers table
-- built yet (a success that looks at no other header), the raw header
-- block is searched: building the whole table costs more than the call's
-- signing.
local function header_request_id(res)
  local raw = rawget(res, "headers") == nil and rawget(res, "_raw")
  if type(raw) ~= "string" then
    local h = res.headers
    return h["x-amzn-requestid"] or h["x-amz-request-id"] or h["x-amz-id-2"]
  end
  -- (no lowercase copy of the block for an answer without such a header)
  if not raw:find("\n[xX]%-[aA][mM][zZ]") then return nil end
  local low = raw:lower()
  for i = 1, #REQUEST_ID_HEADERS do
    local _, e = low:find("\n" .. REQUEST_ID_HEADERS[i] .. ":", 1, true)
    if e then
      local value = raw:match("^[ \t]*([^\r\n]*)", e + 1)
      if value:find("[ \t]$") then value = value:match("^(.-)[ \t]*$") end
      return value
    end
  end
end
M.header_request_id = header_request_id

-- The server's clock from its Date header, when it is more than 4 minutes
-- away from ours (the SDKs' threshold).
local function skewed(res)
  local server = retry.http_date(res.headers["date"])
  if not server then return nil end
  local offset = server - os.time()
  if offset > 240 or offset < -240 then return offset end
end

-- The body of one call: attempts until success, a final error, or no retry
-- left. Runs as a task, so cancelling it stops the request in flight.
-- `first_ok, first_res`, when given, are what the first attempt's request
-- gave (see send_first).
local function call(self, operation, req, url, opts, first_ok, first_res)
  local service = self._service
  local max_attempts = opts.max_attempts or self._max_attempts
  local timeout = opts.timeout or self._timeout
  local attempts, total_delay, cost = 0, 0, nil
  local sig = opts.signal
  local expired_retried = false
  if req.body_path or req.body_file then prepare_file(req) end
  while true do
    attempts = attempts + 1
    local ok, res
    if first_res ~= nil then
      ok, res, first_res = first_ok, first_res, nil
    else
      local provider = self._provider
      local creds = provider:current() or provider:get():await()
      local body, whole_file
      if req.length then body, whole_file = attempt_body(req) end
      ok, res = pawait(transmit(self, req, url, creds, os.time() + self._skew, timeout, body, whole_file))
      if ok and req.stream and res.status >= 300 then res.body = read_error_body(res) end
    end
    local err, headers, free_retry
    if not ok then
      if is_error(res, "cancelled") or is_error(res, "usage") or (sig and sig.aborted) then error(res, 0) end
      err = errors.network(res, service.id, operation)
    elseif res.status < 300 then
      local parsed, out, rid
      if service.protocol == "rest-xml" then
        parsed, out = pcall(restxml.parse, operation, res)
      else
        parsed, out, rid = pcall(protocols.parse, service, operation, res)
      end
      if parsed then
        self._quota:release(cost)
        if req.stream then
          out.Body = res:chunks()
        end
        out.metadata = { status = res.status, request_id = rid or header_request_id(res), attempts = attempts,
                         total_retry_delay = total_delay }
        return out
      elseif is_error(out, "aws") and out.error_in_body then
        -- S3 answered 200 with an <Error> (a copy or a completion that
        -- failed late): an error like any other, retried if it may be.
        err = errors.new { code = out.code, message = out.error_in_body, status = res.status,
                           request_id = out.request_id or header_request_id(res), service = service.id,
                           operation = operation, retryable = out.retryable }
      else
        if is_error(out) then
          out.service, out.operation, out.status = service.id, operation, res.status
          out.request_id = header_request_id(res)
        end
        error(out, 0)
      end
    else
      local code, msg, rid = protocols.parse_error(service, res)
      if not code and service.protocol == "rest-xml" then code = restxml.status_code(res.status) end
      headers = res.headers
      err = errors.new { code = code, message = msg, status = res.status,
                         request_id = rid or header_request_id(res), service = service.id,
                         operation = operation }
      if code and errors.EXPIRED_TOKEN[code] then
        -- Fetch the credentials again, and retry once with them.
        self._provider:invalidate()
        free_retry = not expired_retried
        expired_retried = true
      elseif code and errors.CLOCK_SKEW[code] then
        local offset = skewed(res)
        if offset then
          self._skew, free_retry = offset, true
        end
      end
    end
    err.metadata = { status = err.status, request_id = err.request_id, attempts = attempts,
                     total_retry_delay = total_delay }
    if attempts >= max_attempts or not (err.retryable or free_retry) then error(err, 0) end
    local delay = 0
    if not free_retry then
      cost = self._quota:acquire(err)
      if not cost then
        err.quota_exhausted = true
        error(err, 0)
      end
      delay = retry.delay(err, attempts, headers)
    end
    total_delay = total_delay + delay
    if delay > 0 then core.sleep(delay):await() end
  end
end

-- A call whose credentials are at hand and whose request is a plain string
-- (not S3's): the first attempt goes out at once and its answer is handled
-- in a reaction, with no task (a task's coroutine and its stack cost more
-- than the rest of a call); only a failure starts the task of `call`,
-- which goes on from that answer. The promise is an operation: cancelling
-- it cancels the request, or the task.
local function send_first(self, operation, req, url, opts, creds)
  local sent, http_p = pcall(transmit, self, req, url, creds, os.time() + self._skew,
    opts.timeout or self._timeout)
  if not sent then return core.op_settled(false, http_p) end
  local task
  local out, resolve, reject = core.operation(function(err)
    core.cancel(task or http_p, err)
  end)
  local function retry_from(ok, res)
    task = spawn(call, self, operation, req, url, opts, ok, res)
    task:next(resolve, reject)
  end
  http_p:next(function(res)
    if res.status >= 300 then return retry_from(true, res) end
    local service = self._service
    local parsed, v, rid = pcall(protocols.parse, service, operation, res)
    if not parsed then
      if is_error(v) then
        v.service, v.operation, v.status = service.id, operation, res.status
        v.request_id = header_request_id(res)
      end
      return reject(v)
    end
    self._quota:release(nil)
    v.metadata = { status = res.status, request_id = rid or header_request_id(res), attempts = 1,
                   total_retry_delay = 0 }
    resolve(v)
  end, function(err)
    if is_error(err, "cancelled") then
      reject(err)
    else
      retry_from(false, err)
    end
  end)
  return out
end

-- A client: made with metatable Client, or a service's own class built on
-- it (tide.aws.s3's, whose `_base` is Client).
local function is_client(self)
  local mt = getmetatable(self)
  return mt == Client or (type(mt) == "table" and rawget(mt, "_base") == Client)
end
M.is_client = is_client

local function check_client(self, fname, level)
  if not is_client(self) then
    error(("bad argument #1 to '%s' (tide.aws.client expected; call it as client:%s(...))"):format(fname, fname),
      level + 1)
  end
  if self._closed then error(("attempt to use a closed tide.aws.client (%s)"):format(fname), level + 1) end
end
M.check_client = check_client

-- The request's URL: the endpoint (its own path kept) and the operation's
-- path and query. The URLs of the paths seen are kept (a json or query
-- service has only "/").
local function request_url(self, req)
  local path, urls = req.path, self._urls
  local base = urls[path]
  if not base then
    base = path
    if path == "/" and self.endpoint:match("^https?://[^/]+/.") then base = "" end
    if base == "" and not self.endpoint:match("^https?://[^/]+/") then base = "/" end
    base = self.endpoint .. base
    if path == "/" then urls[path] = base end
  end
  return base .. (req.query or "")
end

--- Calls `operation` (its PascalCase name) with `params`; `opts` is
--- {signal=, timeout=, max_attempts=}. The promise (an operation or a
--- task: `p:cancel()` stops it) fulfils with the output table.
--- @param operation string
--- @param params table|nil
--- @param opts {signal: tide.signal, timeout: number, max_attempts: integer}|nil
--- @return tide.promise
function Client:send(operation, params, opts)
  return M.send(self, operation, params, opts, "send", 2)
end

-- Operation names checked once (those of the snake_case methods, and
-- those send was given: at most 1024 of them).
local known_names, n_known_names = {}, 0

function M.send(self, operation, params, opts, fname, level)
  level = level + 1
  check_client(self, fname, level)
  if not known_names[operation] and (type(operation) ~= "string" or not operation:match("^%u%w*$")) then
    error(("bad argument #1 to '%s' (operation name expected, as in the API reference: 'ListTables'), got %s")
      :format(fname, type(operation) == "string" and ("'" .. operation .. "'") or type(operation)), level)
  end
  if params == nil then params = {} end
  if type(params) ~= "table" then
    error(("bad argument #%d to '%s' (params table expected, got %s)"):format(fname == "send" and 2 or 1, fname,
      type(params)), level)
  end
  local sig, rejected
  if opts ~= nil then
    sig, rejected = signal.options(opts, "tide.aws.client:" .. fname, fname == "send" and 3 or 2,
      call_options, level - 1)
  end
  opts = opts or NO_OPTS
  if not known_names[operation] and n_known_names < 1024 then
    known_names[operation], n_known_names = true, n_known_names + 1
  end
  if opts.max_attempts ~= nil and (math.type(opts.max_attempts) ~= "integer" or opts.max_attempts < 1) then
    error(("bad option 'max_attempts' to '%s' (positive integer expected)"):format(fname), level)
  end
  if opts.timeout ~= nil then check.seconds(opts.timeout, fname == "send" and 3 or 2, fname, level) end
  local ok, req, url
  if self._service.protocol == "rest-xml" then
    ok, req = pcall(restxml.build, self, operation, params)
    url = ok and req.url
  else
    ok, req = pcall(protocols.build, self._service, operation, params)
    url = ok and request_url(self, req)
  end
  if not ok then error(req, level) end
  if rejected then return rejected end
  -- A stream is sent once.
  if req.upload then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.max_attempts = 1
    opts = o
  end
  local task
  local creds = self._service.protocol ~= "rest-xml" and not (req.length or req.body_path or req.body_file
    or req.upload or req.pieces or req.stream or req.output) and self._provider:current()
  if creds then
    task = send_first(self, operation, req, url, opts, creds)
  else
    task = spawn(call, self, operation, req, url, opts)
  end
  if sig then signal.link(sig, task) end
  return task
end

-- snake_case -> PascalCase, with the acronyms the APIs spell in capitals.
local upper = { saml = "SAML", arn = "ARN", mfa = "MFA" }
local function pascal(name)
  return (name:gsub("^(%l)", string.upper):gsub("_(%w)(%w*)", function(a, rest)
    local word = a .. rest
    return upper[word] or (a:upper() .. rest)
  end))
end
M.pascal = pascal

local operations = {}

--- client:<operation>(params, opts): `client:list_tables{}` is
--- `client:send("ListTables", {})`.
function Client.__index(_, key)
  local m = Client[key]
  if m ~= nil then return m end
  if type(key) ~= "string" or not key:match("^%l[%l%d_]*$") then return nil end
  local f = operations[key]
  if not f then
    local op = pascal(key)
    f = function(client, params, opts) return M.send(client, op, params, opts, key, 2) end
    operations[key] = f
  end
  return f
end

--- Closes the client's own HTTP connections (not those of an `http=`
--- client it was given); later calls raise.
--- @return nil
function Client:close()
  if not is_client(self) then
    error("bad argument #1 to 'close' (tide.aws.client expected; call it as client:close())", 2)
  end
  if self._closed then return end
  self._closed = true
  if self._own_http then self._http:close() end
end
Client.__close = Client.close

function Client.__tostring(self)
  return ("tide.aws.client (%s, %s, %s%s)"):format(self.service, self.region, self.endpoint,
    self._closed and ", closed" or "")
end
Client.__name = "tide.aws.client"

--- The service table of a name in tide.aws.services, or one made from the
--- options of aws.client (`protocol=`, `version=`, `target_prefix=`,
--- `signing_name=`).
function M.service(name, opts, level)
  local known = services[name]
  if known and not (opts and (opts.protocol or opts.target_prefix)) then return known end
  opts = opts or {}
  local protocol = opts.protocol or "json"
  local json_version
  if protocol == "json1.0" or protocol == "json" then
    protocol, json_version = "json", opts.json_version or "1.0"
  elseif protocol == "json1.1" then
    protocol, json_version = "json", "1.1"
  elseif protocol ~= "query" and protocol ~= "rest-json" then
    usage(level + 1, "aws.client: unknown protocol '%s' (json, json1.0, json1.1, query or rest-json)", protocol)
  end
  if protocol == "json" and not opts.target_prefix then
    usage(level + 1, "aws.client: a json service needs target_prefix= (e.g. 'DynamoDB_20120810')")
  end
  if protocol == "query" and not opts.version then
    usage(level + 1, "aws.client: a query service needs version= (e.g. '2011-06-15')")
  end
  return {
    id = known and known.id or name, protocol = protocol, json_version = json_version, version = opts.version,
    target_prefix = opts.target_prefix, signing_name = opts.signing_name or name,
    endpoint_prefix = opts.endpoint_prefix or name, paginators = known and known.paginators or {},
    lists = known and known.lists, flattened = known and known.flattened, binary = known and known.binary,
    model = known and known.model,
  }
end

return M
