--- S3's wire protocol (rest-xml): how an operation's params become a
--- request (method, URL with the bucket and the escaped key, headers,
--- query, XML or raw body) and how the answer becomes the output table
--- (headers and XML, through lua-expat, as typed fields).
---
--- Addressing: virtual-hosted (`https://bucket.s3.region.amazonaws.com/key`)
--- on AWS endpoints for buckets that are DNS names; path-style
--- (`endpoint/bucket/key`) for other endpoints or with `force_path_style`.
--- Keys are escaped byte by byte as S3 expects: everything but the
--- unreserved characters and "/".
---
--- Typed output fields: sizes and counts are integers, IsTruncated and
--- DeleteMarker booleans, LastModified/CreationDate/Initiated Unix times
--- (seconds, a float when the server gives milliseconds), ETag the quoted
--- string S3 sends, Metadata a table of the `x-amz-meta-*` headers.
-- @module tide.aws.restxml
local core = require "tide.core"
local json = require "tide.json"
local xml = require "tide.aws.xml"
local sign = require "tide.aws.sign"
local date = require "tide.date"

local type, pairs, ipairs, tostring, concat, sort = type, pairs, ipairs, tostring, table.concat, table.sort
local math_type, tointeger = math.type, math.tointeger
local array = json.array

local M = {}

--- The longest key S3 takes, in bytes.
M.MAX_KEY = 1024

local function usage(fmt, ...)
  error(core.error("usage", fmt:format(...)), 0)
end

--- RFC 3986 escaping of every byte but the unreserved ones.
--- @param s string
--- @return string
local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end
M.escape = escape

--- A key as it goes into the path: escaped, "/" kept.
--- @param key string
--- @return string
function M.escape_key(key)
  return (key:gsub("[^%w%-%._~/]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- ---------------------------------------------------------------------------
-- Times

--- An ISO 8601 time ("2026-12-02T03:34:05.000Z") or an HTTP date ("Wed, 02
--- Dec 2026 03:34:05 GMT") as a Unix time; the text itself when it is
--- neither.
--- @param s string
--- @return number|string
function M.time(s)
  return date.parse_iso8601(s) or date.parse_http(s) or s
end

--- A Unix time as an HTTP date.
--- @param t number
--- @return string
M.http_date = date.format_http

-- ---------------------------------------------------------------------------
-- Requests

-- Params that map to request headers, by operation group.
local OBJECT_WRITE = {
  ACL = "x-amz-acl", CacheControl = "cache-control", ContentDisposition = "content-disposition",
  ContentEncoding = "content-encoding", ContentLanguage = "content-language", ContentType = "content-type",
  ContentMD5 = "content-md5", Expires = "expires", StorageClass = "x-amz-storage-class",
  ServerSideEncryption = "x-amz-server-side-encryption", SSEKMSKeyId = "x-amz-server-side-encryption-aws-kms-key-id",
  Tagging = "x-amz-tagging", WebsiteRedirectLocation = "x-amz-website-redirect-location",
  GrantFullControl = "x-amz-grant-full-control", GrantRead = "x-amz-grant-read",
  ExpectedBucketOwner = "x-amz-expected-bucket-owner", RequestPayer = "x-amz-request-payer",
}
local OBJECT_READ = {
  Range = "range", IfMatch = "if-match", IfNoneMatch = "if-none-match", IfModifiedSince = "if-modified-since",
  IfUnmodifiedSince = "if-unmodified-since", ExpectedBucketOwner = "x-amz-expected-bucket-owner",
  RequestPayer = "x-amz-request-payer",
}
local OBJECT_READ_QUERY = {
  VersionId = "versionId", PartNumber = "partNumber", ResponseContentType = "response-content-type",
  ResponseContentDisposition = "response-content-disposition", ResponseCacheControl = "response-cache-control",
  ResponseContentEncoding = "response-content-encoding", ResponseContentLanguage = "response-content-language",
  ResponseExpires = "response-expires",
}
local COPY = {
  MetadataDirective = "x-amz-metadata-directive", TaggingDirective = "x-amz-tagging-directive",
  CopySourceIfMatch = "x-amz-copy-source-if-match", CopySourceIfNoneMatch = "x-amz-copy-source-if-none-match",
  CopySourceIfModifiedSince = "x-amz-copy-source-if-modified-since",
  CopySourceIfUnmodifiedSince = "x-amz-copy-source-if-unmodified-since",
}
local OWNER = { ExpectedBucketOwner = "x-amz-expected-bucket-owner" }

local function header_value(name, v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if name:match("since$") or name == "expires" then return M.http_date(v) end
    return math_type(v) == "integer" and tostring(v) or ("%.17g"):format(v)
  end
  if t == "boolean" then return tostring(v) end
  usage("param for header %s: %s cannot be sent", name, t)
end

local function add_headers(headers, params, map)
  for member, name in pairs(map) do
    local v = params[member]
    if v ~= nil then headers[name] = header_value(name, v) end
  end
end

local function add_metadata(headers, meta)
  if meta == nil then return end
  if type(meta) ~= "table" then usage("Metadata must be a table of strings") end
  for k, v in pairs(meta) do
    if type(k) ~= "string" or not k:match("^[%w%-_.]+$") then
      usage("Metadata: bad name %s (letters, digits, '-', '_' and '.')", tostring(k))
    end
    if type(v) ~= "string" and type(v) ~= "number" then usage("Metadata %s: a string expected", k) end
    headers["x-amz-meta-" .. k:lower()] = tostring(v)
  end
end

local function query_string(q)
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = k end
  if #keys == 0 then return "" end
  sort(keys)
  for i, k in ipairs(keys) do
    local v = q[k]
    if v == true then
      keys[i] = escape(k)
    else
      if type(v) == "number" then v = math_type(v) == "integer" and tostring(v) or ("%.17g"):format(v) end
      keys[i] = escape(k) .. "=" .. escape(tostring(v))
    end
  end
  return "?" .. concat(keys, "&")
end

local function add_query(q, params, map)
  for member, name in pairs(map) do
    local v = params[member]
    if v ~= nil then q[name] = v end
  end
end

local function xml_escape(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                                          ["'"] = "&apos;" }))
end

local function need_bucket(p, op)
  local b = p.Bucket
  if type(b) ~= "string" or b == "" then usage("%s needs Bucket (a non-empty string)", op) end
  if b:find("/", 1, true) then usage("%s: bad Bucket '%s' (a bucket name has no '/')", op, b) end
  return b
end

local function check_key(key, op, what)
  what = what or "Key"
  if type(key) ~= "string" or key == "" then usage("%s needs %s (a non-empty string)", op, what) end
  if #key > M.MAX_KEY then usage("%s: %s is %d bytes long (S3 takes at most %d)", op, what, #key, M.MAX_KEY) end
  return key
end
M.check_key = check_key

local function need_key(p, op) return check_key(p.Key, op) end

-- Whether `host` is an AWS S3 endpoint (virtual-hosted addressing).
local function aws_host(host)
  return host:match("%.amazonaws%.com$") ~= nil or host:match("%.amazonaws%.com%.cn$") ~= nil
end

-- Whether a bucket can be a host name label under `scheme` (no dots over
-- https: the certificate covers one label).
local function dns_bucket(bucket, scheme)
  if #bucket < 3 or #bucket > 63 or not bucket:match("^[a-z0-9][a-z0-9.-]*[a-z0-9]$") then return false end
  if bucket:find("..", 1, true) or bucket:match("^%d+%.%d+%.%d+%.%d+$") then return false end
  if scheme == "https" and bucket:find(".", 1, true) then return false end
  return true
end

--- The URL of `bucket` (may be nil: the service) and `key` (escaped here)
--- at the client's endpoint, and the query (a table).
--- @return string
function M.url(client, bucket, key, query)
  local endpoint = client.endpoint
  local scheme, host, base = endpoint:match("^(https?)://([^/]+)(.*)$")
  local path = key and M.escape_key(key) or ""
  local hostname = host:gsub(":%d+$", ""):lower()
  local url
  if not bucket then
    url = endpoint .. "/"
  elseif not client._force_path_style and aws_host(hostname) and dns_bucket(bucket, scheme) then
    url = ("%s://%s.%s%s/%s"):format(scheme, bucket, host, base, path)
  else
    url = ("%s/%s%s"):format(endpoint, escape(bucket), key and ("/" .. path) or "")
  end
  return url .. query_string(query or {})
end

-- tide's own params (lowercase), per operation.
local EXTRA = {
  GetObject = { stream = true, output = true, on_progress = true },
  PutObject = { on_progress = true },
  UploadPart = { on_progress = true },
}

local function check_extras(op, p)
  local allowed = EXTRA[op] or {}
  for k in pairs(p) do
    if type(k) ~= "string" then usage("%s: params keys must be strings", op) end
    if k:match("^%l") and not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      sort(names)
      usage("%s: unknown param '%s'%s", op, k, #names > 0 and (" (tide's own: " .. concat(names, ", ") .. ")") or "")
    end
  end
end

local function is_stream(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and type(mt.__index) == "table" and type(mt.__index.pull) == "function"
end

-- A body param into the request: a string, a tide.file, {file = path}, a
-- stream or a function (these two need ContentLength).
local function set_body(req, p, op)
  local body, length = p.Body, p.ContentLength
  if length ~= nil and (math_type(length) ~= "integer" or length < 0) then
    usage("%s: ContentLength must be a byte count (a non-negative integer)", op)
  end
  if body == nil then
    req.body = ""
    return
  end
  if type(body) == "string" then
    if length and length ~= #body then usage("%s: ContentLength is %d but Body has %d bytes", op, length, #body) end
    req.body = body
    return
  end
  local file = require "tide.file"
  req.length_given = length ~= nil
  if file.is_file(body) then
    req.body_file, req.length = body, length
  elseif type(body) == "table" and getmetatable(body) == nil and body.file ~= nil then
    -- {file = path|tide.file, offset = n}: from byte n (or a tide.file's
    -- position), ContentLength bytes or to the end.
    local f = body.file
    if file.is_file(f) then
      req.body_file = f
    elseif type(f) ~= "string" or f == "" then
      usage("%s: Body {file = path}: path must be a string", op)
    else
      req.body_path = f
    end
    for k in pairs(body) do
      if k ~= "file" and k ~= "offset" then usage("%s: Body {file = path}: unknown field '%s'", op, tostring(k)) end
    end
    if body.offset ~= nil and (math_type(body.offset) ~= "integer" or body.offset < 0) then
      usage("%s: Body {file = path, offset = n}: offset must be a byte offset", op)
    end
    req.start, req.length = body.offset, length
  elseif type(body) == "table" and getmetatable(body) == nil then
    -- A list of strings, sent one after another: kept in pieces, hashed
    -- and signed as one body.
    local total = 0
    for i, piece in ipairs(body) do
      if type(piece) ~= "string" then usage("%s: Body list: piece %d is not a string", op, i) end
      total = total + #piece
    end
    if length and length ~= total then usage("%s: ContentLength is %d but Body has %d bytes", op, length, total) end
    req.pieces, req.length = body, total
    req.headers["x-amz-content-sha256"] = sign.sha256(body)
    return
  elseif is_stream(body) or type(body) == "function" then
    if not length then usage("%s: a stream Body needs ContentLength (S3 takes no chunked upload)", op) end
    req.upload, req.length = body, length
  else
    usage("%s: bad Body (string, list of strings, tide.file, {file = path} or stream expected, got %s)", op,
      type(body))
  end
  -- A stream is sent unsigned; a file's hash is computed (in C, in libuv's
  -- thread pool) before the first attempt, and signed.
  if req.upload then req.unsigned = true end
end

local function xml_list_body(root, items)
  return '<?xml version="1.0" encoding="UTF-8"?>\n<' .. root .. ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    .. concat(items) .. "</" .. root .. ">"
end

-- base64 of the bytes that the hex string `hex` spells.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function hex_base64(hex)
  local bytes = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  local out = {}
  for i = 1, #bytes, 3 do
    local a, b, c = bytes:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local s = {}
    for j = 1, 4 do
      local v = (n >> (6 * (4 - j))) & 63
      s[j] = B64:sub(v + 1, v + 1)
    end
    if not b then s[3], s[4] = "=", "=" elseif not c then s[4] = "=" end
    out[#out + 1] = concat(s)
  end
  return concat(out)
end
M.hex_base64 = hex_base64

local build = {}

build.ListBuckets = function(_, _)
  return { method = "GET", query = {} }
end

build.CreateBucket = function(p, client)
  local bucket = need_bucket(p, "CreateBucket")
  local req = { method = "PUT", bucket = bucket, query = {}, headers = {} }
  add_headers(req.headers, p, { ACL = "x-amz-acl", ObjectOwnership = "x-amz-object-ownership" })
  local cfg = p.CreateBucketConfiguration
  local location = cfg and cfg.LocationConstraint
  local host = client.endpoint:match("^https?://([^/:]+)") or ""
  if location == nil and client.region ~= "us-east-1" and aws_host(host:lower()) then
    location = client.region
  end
  if location then
    req.body = xml_list_body("CreateBucketConfiguration",
      { "<LocationConstraint>" .. xml_escape(location) .. "</LocationConstraint>" })
    req.headers["content-type"] = "application/xml"
  end
  return req
end

build.DeleteBucket = function(p)
  local req = { method = "DELETE", bucket = need_bucket(p, "DeleteBucket"), query = {}, headers = {} }
  add_headers(req.headers, p, OWNER)
  return req
end

build.HeadBucket = function(p)
  local req = { method = "HEAD", bucket = need_bucket(p, "HeadBucket"), query = {}, headers = {} }
  add_headers(req.headers, p, OWNER)
  return req
end

build.PutObject = function(p)
  local req = { method = "PUT", bucket = need_bucket(p, "PutObject"), key = need_key(p, "PutObject"), query = {},
                headers = {} }
  add_headers(req.headers, p, OBJECT_WRITE)
  add_metadata(req.headers, p.Metadata)
  set_body(req, p, "PutObject")
  return req
end

local function read_object(method, op)
  return function(p)
    local req = { method = method, bucket = need_bucket(p, op), key = need_key(p, op), query = {}, headers = {} }
    add_headers(req.headers, p, OBJECT_READ)
    add_query(req.query, p, OBJECT_READ_QUERY)
    return req
  end
end

build.GetObject = function(p)
  local req = read_object("GET", "GetObject")(p)
  if p.stream ~= nil and type(p.stream) ~= "boolean" then usage("GetObject: stream must be a boolean") end
  local o = p.output
  if o ~= nil and not (type(o) == "string" or require("tide.file").is_file(o)
      or (type(o) == "table" and getmetatable(o) == nil and o.file ~= nil)) then
    usage("GetObject: output must be a path, a tide.file or {file = path|file, offset = n}")
  end
  if o == "" then usage("GetObject: output must be a path, a tide.file or {file = path|file, offset = n}") end
  if p.output and p.stream then usage("GetObject: give stream or output, not both") end
  -- output: tide.http writes a 2xx body to the file in C (an error
  -- answer's body stays in the response, parsed as usual).
  req.stream = p.stream
  req.output = o
  return req
end
build.HeadObject = read_object("HEAD", "HeadObject")

build.DeleteObject = function(p)
  local req = { method = "DELETE", bucket = need_bucket(p, "DeleteObject"), key = need_key(p, "DeleteObject"),
                query = {}, headers = {} }
  add_query(req.query, p, { VersionId = "versionId" })
  add_headers(req.headers, p, { MFA = "x-amz-mfa", ExpectedBucketOwner = "x-amz-expected-bucket-owner",
                                RequestPayer = "x-amz-request-payer" })
  return req
end

build.DeleteObjects = function(p)
  local bucket = need_bucket(p, "DeleteObjects")
  local d = p.Delete
  if type(d) ~= "table" or type(d.Objects) ~= "table" or #d.Objects == 0 then
    usage("DeleteObjects needs Delete = {Objects = {{Key = ...}, ...}}")
  end
  if #d.Objects > 1000 then usage("DeleteObjects: at most 1000 objects a call (got %d)", #d.Objects) end
  local items = {}
  for i, o in ipairs(d.Objects) do
    if type(o) ~= "table" then usage("DeleteObjects: Delete.Objects[%d] must be {Key = ...}", i) end
    check_key(o.Key, "DeleteObjects", ("Delete.Objects[%d].Key"):format(i))
    items[#items + 1] = "<Object><Key>" .. xml_escape(o.Key) .. "</Key>"
      .. (o.VersionId and ("<VersionId>" .. xml_escape(o.VersionId) .. "</VersionId>") or "") .. "</Object>"
  end
  if d.Quiet then items[#items + 1] = "<Quiet>true</Quiet>" end
  local body = xml_list_body("Delete", items)
  local req = { method = "POST", bucket = bucket, query = { delete = true }, body = body,
                headers = { ["content-type"] = "application/xml",
                            -- S3 wants a checksum of a multi-object delete.
                            ["x-amz-checksum-sha256"] = hex_base64(sign.sha256(body)),
                            ["x-amz-sdk-checksum-algorithm"] = "SHA256" } }
  add_headers(req.headers, p, { MFA = "x-amz-mfa", ExpectedBucketOwner = "x-amz-expected-bucket-owner" })
  return req
end

build.CopyObject = function(p)
  local req = { method = "PUT", bucket = need_bucket(p, "CopyObject"), key = need_key(p, "CopyObject"), query = {},
                headers = {} }
  local src = p.CopySource
  local source
  if type(src) == "table" then
    if type(src.Bucket) ~= "string" then usage("CopyObject: CopySource.Bucket must be a string") end
    check_key(src.Key, "CopyObject", "CopySource.Key")
    source = escape(src.Bucket) .. "/" .. M.escape_key(src.Key)
      .. (src.VersionId and ("?versionId=" .. escape(src.VersionId)) or "")
  elseif type(src) == "string" then
    local b, k = src:match("^/?([^/]+)/(.+)$")
    if not b then usage("CopyObject: CopySource must be 'bucket/key' (got '%s')", src) end
    check_key(k, "CopyObject", "the CopySource key")
    source = escape(b) .. "/" .. M.escape_key(k)
  else
    usage("CopyObject needs CopySource ('bucket/key' or {Bucket=, Key=, VersionId=})")
  end
  req.headers["x-amz-copy-source"] = source
  add_headers(req.headers, p, OBJECT_WRITE)
  add_headers(req.headers, p, COPY)
  add_metadata(req.headers, p.Metadata)
  return req
end

build.ListObjectsV2 = function(p)
  local req = { method = "GET", bucket = need_bucket(p, "ListObjectsV2"), query = { ["list-type"] = 2 },
                headers = {} }
  add_query(req.query, p, { Prefix = "prefix", Delimiter = "delimiter", MaxKeys = "max-keys",
                            ContinuationToken = "continuation-token", StartAfter = "start-after",
                            EncodingType = "encoding-type", FetchOwner = "fetch-owner" })
  if p.FetchOwner ~= nil then req.query["fetch-owner"] = tostring(p.FetchOwner) end
  add_headers(req.headers, p, OWNER)
  return req
end

build.CreateMultipartUpload = function(p)
  local req = { method = "POST", bucket = need_bucket(p, "CreateMultipartUpload"),
                key = need_key(p, "CreateMultipartUpload"), query = { uploads = true }, headers = {} }
  add_headers(req.headers, p, OBJECT_WRITE)
  add_metadata(req.headers, p.Metadata)
  return req
end

local function need_upload_id(p, op)
  if type(p.UploadId) ~= "string" or p.UploadId == "" then usage("%s needs UploadId (a string)", op) end
  return p.UploadId
end

build.UploadPart = function(p)
  local req = { method = "PUT", bucket = need_bucket(p, "UploadPart"), key = need_key(p, "UploadPart"),
                headers = {} }
  local n = p.PartNumber
  if math_type(n) ~= "integer" or n < 1 or n > 10000 then
    usage("UploadPart needs PartNumber (an integer from 1 to 10000)")
  end
  req.query = { partNumber = n, uploadId = need_upload_id(p, "UploadPart") }
  add_headers(req.headers, p, { ContentMD5 = "content-md5", ExpectedBucketOwner = "x-amz-expected-bucket-owner" })
  set_body(req, p, "UploadPart")
  return req
end

build.CompleteMultipartUpload = function(p)
  local req = { method = "POST", bucket = need_bucket(p, "CompleteMultipartUpload"),
                key = need_key(p, "CompleteMultipartUpload"),
                query = { uploadId = need_upload_id(p, "CompleteMultipartUpload") },
                headers = { ["content-type"] = "application/xml" } }
  local mu = p.MultipartUpload
  if type(mu) ~= "table" or type(mu.Parts) ~= "table" or #mu.Parts == 0 then
    usage("CompleteMultipartUpload needs MultipartUpload = {Parts = {{PartNumber=, ETag=}, ...}}")
  end
  local items = {}
  for i, part in ipairs(mu.Parts) do
    if type(part) ~= "table" or math_type(part.PartNumber) ~= "integer" or type(part.ETag) ~= "string" then
      usage("CompleteMultipartUpload: MultipartUpload.Parts[%d] must be {PartNumber = integer, ETag = string}", i)
    end
    items[i] = ("<Part><ETag>%s</ETag><PartNumber>%d</PartNumber></Part>"):format(xml_escape(part.ETag),
      part.PartNumber)
  end
  req.body = xml_list_body("CompleteMultipartUpload", items)
  add_headers(req.headers, p, OWNER)
  return req
end

build.AbortMultipartUpload = function(p)
  local req = { method = "DELETE", bucket = need_bucket(p, "AbortMultipartUpload"),
                key = need_key(p, "AbortMultipartUpload"),
                query = { uploadId = need_upload_id(p, "AbortMultipartUpload") }, headers = {} }
  add_headers(req.headers, p, OWNER)
  return req
end

build.ListMultipartUploads = function(p)
  local req = { method = "GET", bucket = need_bucket(p, "ListMultipartUploads"), query = { uploads = true },
                headers = {} }
  add_query(req.query, p, { Prefix = "prefix", Delimiter = "delimiter", MaxUploads = "max-uploads",
                            KeyMarker = "key-marker", UploadIdMarker = "upload-id-marker",
                            EncodingType = "encoding-type" })
  add_headers(req.headers, p, OWNER)
  return req
end

--- The operations tide.aws knows for S3, sorted.
M.OPERATIONS = {}
for name in pairs(build) do M.OPERATIONS[#M.OPERATIONS + 1] = name end
sort(M.OPERATIONS)

--- The request for `operation`: {method=, url=, headers=, body= (a string,
--- or nil with file=/path=/upload= and length=), unsigned=, stream=,
--- output=, on_progress=}. Raises a `usage` error for bad params.
--- @param client table  the S3 client (endpoint, region, path style)
--- @param operation string
--- @param params table
--- @return table
function M.build(client, operation, params)
  local make = build[operation]
  if not make then
    usage("S3: operation %s is not supported (supported: %s)", operation, concat(M.OPERATIONS, ", "))
  end
  check_extras(operation, params)
  local req = make(params, client)
  req.headers = req.headers or {}
  if params.on_progress ~= nil then
    if not require("tide.check").is_callable(params.on_progress) then
      usage("%s: on_progress must be a function", operation)
    end
    req.on_progress = params.on_progress
  end
  req.url = M.url(client, req.bucket, req.key, req.query)
  req.query = nil
  return req
end

-- ---------------------------------------------------------------------------
-- Answers

local INT = { Size = true, KeyCount = true, MaxKeys = true, MaxUploads = true, PartNumber = true,
              ContentLength = true, PartsCount = true, TagCount = true, MissingMeta = true,
              NextPartNumberMarker = true, PartNumberMarker = true, MaxParts = true }
local BOOL = { IsTruncated = true, DeleteMarker = true, Quiet = true, IsLatest = true,
               BucketKeyEnabled = true }
local TIME = { LastModified = true, CreationDate = true, Initiated = true }

local function scalar(name, text)
  if INT[name] then return tointeger(tonumber(text)) or text end
  if BOOL[name] then
    if text == "true" then return true elseif text == "false" then return false end
    return text
  end
  if TIME[name] then return M.time(text) end
  return text
end

-- Elements that repeat flat in their parent (and the member they make),
-- and wrappers whose children are a list.
local FLAT = { Contents = "Contents", CommonPrefixes = "CommonPrefixes", Upload = "Uploads", Deleted = "Deleted",
               Error = "Errors", Part = "Parts", Version = "Versions" }
local WRAPPED = { Buckets = true }

local function convert(node)
  local children = node.children
  if #children == 0 then return scalar(node.name, node.text) end
  local out = {}
  for _, c in ipairs(children) do
    local name = c.name
    if FLAT[name] then
      local member = FLAT[name]
      local list = out[member] or array({})
      list[#list + 1] = convert(c)
      out[member] = list
    elseif WRAPPED[name] then
      local list = array({})
      for i, item in ipairs(c.children) do list[i] = convert(item) end
      out[name] = list
    else
      out[name] = convert(c)
    end
  end
  return out
end

--- An XML answer as a table (see the top of the module).
--- @param body string
--- @return table
function M.decode(body)
  return convert(xml.parse(body))
end

-- Output members from headers, per operation.
local OBJECT_HEADERS = {
  ETag = "etag", ContentType = "content-type", ContentLength = "content-length", LastModified = "last-modified",
  ContentRange = "content-range", AcceptRanges = "accept-ranges", CacheControl = "cache-control",
  ContentDisposition = "content-disposition", ContentEncoding = "content-encoding",
  ContentLanguage = "content-language", Expires = "expires", VersionId = "x-amz-version-id",
  DeleteMarker = "x-amz-delete-marker", StorageClass = "x-amz-storage-class",
  ServerSideEncryption = "x-amz-server-side-encryption", PartsCount = "x-amz-mp-parts-count",
  WebsiteRedirectLocation = "x-amz-website-redirect-location", Expiration = "x-amz-expiration",
  TagCount = "x-amz-tagging-count", MissingMeta = "x-amz-missing-meta",
  SSEKMSKeyId = "x-amz-server-side-encryption-aws-kms-key-id",
}
local WRITE_HEADERS = { ETag = "etag", VersionId = "x-amz-version-id", Expiration = "x-amz-expiration",
                        ServerSideEncryption = "x-amz-server-side-encryption",
                        SSEKMSKeyId = "x-amz-server-side-encryption-aws-kms-key-id" }
local OUTPUT_HEADERS = {
  GetObject = OBJECT_HEADERS, HeadObject = OBJECT_HEADERS, PutObject = WRITE_HEADERS,
  UploadPart = { ETag = "etag", ServerSideEncryption = "x-amz-server-side-encryption" },
  DeleteObject = { DeleteMarker = "x-amz-delete-marker", VersionId = "x-amz-version-id" },
  CopyObject = { VersionId = "x-amz-version-id", CopySourceVersionId = "x-amz-copy-source-version-id",
                 Expiration = "x-amz-expiration", ServerSideEncryption = "x-amz-server-side-encryption" },
  CompleteMultipartUpload = { VersionId = "x-amz-version-id", Expiration = "x-amz-expiration",
                              ServerSideEncryption = "x-amz-server-side-encryption" },
  CreateMultipartUpload = { ServerSideEncryption = "x-amz-server-side-encryption" },
  CreateBucket = { Location = "location" },
  HeadBucket = { BucketRegion = "x-amz-bucket-region" },
}
-- Operations whose answer has an XML body, and the lists they always have.
local XML_BODY = {
  ListBuckets = { "Buckets" }, ListObjectsV2 = { "Contents", "CommonPrefixes" },
  ListMultipartUploads = { "Uploads", "CommonPrefixes" }, DeleteObjects = { "Deleted", "Errors" },
  CopyObject = {}, CreateMultipartUpload = {}, CompleteMultipartUpload = {},
}

-- S3 answers some calls with 200 and an <Error> body (a copy or a
-- completion that failed after the answer started).
local function error_in_body(root, res)
  local code, msg, rid
  for _, c in ipairs(root.children) do
    if c.name == "Code" then code = c.text elseif c.name == "Message" then msg = c.text
    elseif c.name == "RequestId" then rid = c.text end
  end
  local errors = require "tide.aws.errors"
  error(errors.new { code = code, message = msg, status = res.status, request_id = rid, error_in_body = msg or "",
                     retryable = code == "InternalError" or code == "SlowDown" or nil }, 0)
end

--- The output table of a successful answer (`res.body` may be nil for a
--- streamed answer: headers only).
--- @param operation string
--- @param res table  a tide.http response
--- @return table
function M.parse(operation, res)
  local out
  local lists = XML_BODY[operation]
  if lists then
    local root = xml.parse(res.body or "")
    if root.name == "Error" then error_in_body(root, res) end
    out = convert(root)
    if type(out) ~= "table" then out = {} end
    for _, name in ipairs(lists) do
      if out[name] == nil then out[name] = array({}) end
    end
    if operation == "CopyObject" then out = { CopyObjectResult = out } end
    if out.EncodingType == "url" then M.url_decode_listing(out) end
  else
    out = {}
  end
  local map = OUTPUT_HEADERS[operation]
  if map then
    local h = res.headers
    for member, name in pairs(map) do
      local v = h[name]
      if v ~= nil then out[member] = scalar(member, v) end
    end
  end
  if operation == "GetObject" or operation == "HeadObject" then
    local meta = {}
    for name, value in pairs(res.headers) do
      if type(name) == "string" then
        local k = name:lower():match("^x%-amz%-meta%-(.+)$")
        if k then meta[k] = value end
      end
    end
    out.Metadata = meta
    if operation == "GetObject" then
      out.Body = res.body
      if res.bytes then out.bytes = res.bytes end
    end
  end
  return out
end

local function unescape(v)
  if type(v) ~= "string" then return v end
  return (v:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Decodes the keys and prefixes of a listing asked for with
--- `EncodingType = "url"` (as the SDKs do): S3 sends them form-encoded.
--- @param out table
function M.url_decode_listing(out)
  for _, k in ipairs { "Prefix", "Delimiter", "StartAfter", "KeyMarker", "NextKeyMarker" } do
    out[k] = unescape(out[k])
  end
  for _, o in ipairs(out.Contents or {}) do o.Key = unescape(o.Key) end
  for _, o in ipairs(out.Uploads or {}) do o.Key = unescape(o.Key) end
  for _, o in ipairs(out.CommonPrefixes or {}) do o.Prefix = unescape(o.Prefix) end
end

-- Codes for answers without a body (HEAD), by status, as the SDKs name them.
local STATUS_CODES = { [301] = "PermanentRedirect", [304] = "NotModified", [400] = "BadRequest",
                       [403] = "Forbidden", [404] = "NotFound", [405] = "MethodNotAllowed",
                       [412] = "PreconditionFailed", [416] = "InvalidRange", [500] = "InternalError",
                       [503] = "SlowDown" }

--- The code of an answer with no error body.
--- @param status integer
--- @return string|nil
function M.status_code(status) return STATUS_CODES[status] end

return M
