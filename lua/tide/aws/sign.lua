--- AWS Signature Version 4 (the hashing and the canonical request are C:
--- csrc/sigv4.c). Public as `aws.sign`.
---
---     local sign = require "tide.aws.sign"
---     local headers = sign.sign(request, credentials, opts)
---     local url = sign.sign(request, credentials, { presign = 900, ... })
---
--- `request` is `{method=, url=, headers=, body=}`: `url` absolute and as it
--- will be sent (already percent-encoded); `headers` a table name -> string
--- (or number), any case; `body` a string or nil. `credentials` is
--- `{access_key_id=, secret_access_key=, session_token=}` (what a provider
--- of tide.aws.credentials gives). `opts`:
---   region, service    the scope (required)
---   date               Unix time to sign at (default: os.time() plus
---                      sign.clock_offset)
---   presign            seconds: return the presigned URL instead of headers
---   unsigned_payload   sign "UNSIGNED-PAYLOAD" instead of the body's hash
---                      (S3 streamed bodies); x-amz-content-sha256 is sent
---
--- Returns a new table: the request's headers plus `x-amz-date`,
--- `authorization`, `x-amz-security-token` (with a session token) and
--- `x-amz-content-sha256` (for service "s3", with unsigned_payload, or when
--- the request gave that header: its value is then the payload hash used),
--- all lowercase; given headers of those names, in any case, are replaced.
--- `host` is signed from the URL (lowercase, port unless the default) unless
--- the request gives one, and is not added: libcurl sends the same. With
--- `presign`, returns the URL with the X-Amz-* query parameters (the
--- session token among them); S3 signs "UNSIGNED-PAYLOAD" there, other
--- services the body's hash.
---
--- The path is signed as sent for S3; for every other service dot segments
--- and repeated slashes are removed and it is encoded once more (as the
--- services check it). Query keys and values are signed in the canonical
--- encoding (decoded, then encoded again: `+` is a plus), sorted.
---
--- `sign.clock_offset` (seconds, default 0) is added to the clock when no
--- `date` is given: the client sets it from the server's `Date` when an
--- answer says RequestTimeTooSkewed, then retries.
--- `sign.sha256(data)` is the lowercase hex SHA-256 of a string, or of a
--- list of strings one after another.
-- @module tide.aws.sign
local core = require "tide.core"
local check = require "tide.check"

local type, pairs, error, tostring = type, pairs, error, tostring
local os_time, floor = os.time, math.floor
local csign, sha256 = core.sigv4_sign, core.sigv4_sha256

local M = { clock_offset = 0 }

local EMPTY_SHA256 = sha256("")
local UNSIGNED = "UNSIGNED-PAYLOAD"
local FNAME = "tide.aws.sign"

local OPTIONS = { region = true, service = true, date = true, presign = true, unsigned_payload = true }

local function usage(fmt, ...)
  error(core.error("usage", FNAME .. ": " .. fmt:format(...)), 4)
end

-- Checks the arguments of M.sign; calls core.sigv4_sign with them (and
-- `debug`: it then returns the canonical request too).
local function sign(request, credentials, opts, debug)
  if type(request) ~= "table" then
    error(("bad argument #1 to 'sign' (table expected, got %s)"):format(type(request)), 2)
  end
  if type(credentials) ~= "table" then
    error(("bad argument #2 to 'sign' (table expected, got %s)"):format(type(credentials)), 2)
  end
  if opts == nil then usage("options region= and service= are required") end
  check.options(opts, OPTIONS, FNAME, 3, 3)
  local region, service = opts.region, opts.service
  if type(region) ~= "string" or region == "" then usage("option 'region' must be a non-empty string") end
  if type(service) ~= "string" or service == "" then usage("option 'service' must be a non-empty string") end
  local url, method = request.url, request.method or "GET"
  if type(url) ~= "string" then usage("request.url must be a string") end
  if type(method) ~= "string" then usage("request.method must be a string") end
  local akid, secret, token = credentials.access_key_id, credentials.secret_access_key,
    credentials.session_token
  if type(akid) ~= "string" or type(secret) ~= "string" then
    usage("credentials need access_key_id and secret_access_key (strings)")
  end
  if token ~= nil and type(token) ~= "string" then usage("credentials.session_token must be a string") end
  if token == "" then token = nil end
  local date = opts.date
  if date == nil then
    date = os_time() + M.clock_offset
  elseif type(date) ~= "number" then
    usage("option 'date' must be a Unix time (number)")
  end
  if date ~= date or date < 0 or date > 253402300799 then usage("option 'date' out of range") end
  date = floor(date)
  local presign = opts.presign
  if presign ~= nil and (type(presign) ~= "number" or presign < 1 or presign > 604800) then
    usage("option 'presign' must be a number of seconds from 1 to 604800")
  end
  local headers = request.headers
  if headers ~= nil and type(headers) ~= "table" then usage("request.headers must be a table") end

  -- The payload hash: the caller's x-amz-content-sha256, UNSIGNED-PAYLOAD,
  -- or the body's.
  local payload, content_sha
  if headers then
    for name, value in pairs(headers) do
      if type(name) == "string" and #name == 20 and name:lower() == "x-amz-content-sha256" then
        payload, content_sha = tostring(value), true
      end
    end
  end
  if not payload then
    local s3 = service == "s3"
    if opts.unsigned_payload or (presign and s3) then
      payload, content_sha = UNSIGNED, not presign
    else
      local body = request.body
      if body == nil or body == "" then
        payload = EMPTY_SHA256
      elseif type(body) == "string" then
        payload = sha256(body)
      else
        usage("request.body must be a string (for another body give unsigned_payload=true "
          .. "or an x-amz-content-sha256 header)")
      end
      content_sha = s3 and not presign
    end
  end
  return csign(method, url, headers, payload, date, region, service, akid, secret, token,
    not presign and content_sha, presign and floor(presign) or nil, debug)
end

--- Signs `request` with `credentials` (see the top of this file).
--- @param request table
--- @param credentials table
--- @param opts table
--- @return table|string
function M.sign(request, credentials, opts)
  return (sign(request, credentials, opts, false))
end

-- The clients' signer: the headers of a request whose arguments the client
-- made itself (`method`, `url`, `headers` checked, a string or nil
-- `body`, an integer `date`), so only the credentials are checked here.
-- `headers` must not name x-amz-content-sha256 (not for service "s3").
function M.client_headers(method, url, headers, body, credentials, region, service, date)
  local akid, secret, token = credentials.access_key_id, credentials.secret_access_key,
    credentials.session_token
  if type(akid) ~= "string" or type(secret) ~= "string" then
    error(core.error("usage", FNAME .. ": credentials need access_key_id and secret_access_key (strings)"), 2)
  end
  if token ~= nil and type(token) ~= "string" then
    error(core.error("usage", FNAME .. ": credentials.session_token must be a string"), 2)
  end
  if token == "" then token = nil end
  local payload = (body == nil or body == "") and EMPTY_SHA256 or sha256(body)
  return csign(method, url, headers, payload, date, region, service, akid, secret, token, false, nil, false)
end

--- The canonical request that M.sign signs, for debugging a signature a
--- server refuses (same arguments as M.sign).
--- @param request table
--- @param credentials table
--- @param opts table
--- @return string
function M.canonical_request(request, credentials, opts)
  local _, canonical = sign(request, credentials, opts, true)
  return canonical
end

M.sha256 = sha256

return M
