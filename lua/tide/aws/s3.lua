--- tide.aws.s3: the S3 client, its transfers and presigned URLs.
---
---     local s3 = aws.s3 { region = "us-west-2" }
---     s3:put_object { Bucket = "b", Key = "k.txt", Body = "hello" }:await()
---     local obj = s3:get_object { Bucket = "b", Key = "k.txt" }:await()
---     s3:upload { Bucket = "b", Key = "big.bin", Body = { file = "big.bin" }, concurrency = 4 }:await()
---     s3:download { Bucket = "b", Key = "big.bin", output = "copy.bin" }:await()
---     local url = s3:presign("get_object", { Bucket = "b", Key = "k.txt" }, { expires = 900 })
---
--- The operations (list_buckets, create/delete/head_bucket, put/get/head/
--- delete/copy_object, delete_objects, list_objects_v2, the multipart ones)
--- go through the rest-xml protocol of tide.aws.restxml.
-- @module tide.aws.s3
local core = require "tide.core"
local check = require "tide.check"
local signal = require "tide.signal"
local client_mod = require "tide.aws.client"
local restxml = require "tide.aws.restxml"
local sign = require "tide.aws.sign"
local waiters = require "tide.aws.waiters"

local type, pairs, error, tostring, math_type = type, pairs, error, tostring, math.type
local spawn, pawait = core.spawn, core.pawait

local Client = client_mod.Client

local M = {}

--- S3's entry among the services tide.aws knows.
M.service = {
  id = "S3", protocol = "rest-xml", signing_name = "s3", endpoint_prefix = "s3",
  paginators = {
    ListObjectsV2 = { input = "ContinuationToken", output = "NextContinuationToken", items = "Contents" },
  },
}

--- The smallest part S3 takes (but for the last), and the most parts.
M.MIN_PART = 5 * 1024 * 1024
M.MAX_PARTS = 10000
--- Defaults of upload/download.
M.PART_SIZE = 8 * 1024 * 1024
M.CONCURRENCY = 4

--- @class tide.aws.s3 : tide.aws.client
local S3 = { __name = "tide.aws.client", _base = Client }
M.S3 = S3

function S3.__index(self, key)
  local m = S3[key]
  if m ~= nil and type(key) == "string" and key:sub(1, 1) ~= "_" then return m end
  return Client.__index(self, key)
end
S3.__tostring = Client.__tostring
S3.__close = Client.__close

local function usage(level, fmt, ...)
  error(core.error("usage", fmt:format(...)), level + 1)
end

local function check_s3(self, fname, level)
  if getmetatable(self) ~= S3 then
    error(("bad argument #1 to '%s' (tide.aws.s3 client expected; call it as s3:%s(...))"):format(fname, fname),
      level + 1)
  end
  client_mod.check_client(self, fname, level + 1)
end

--- Makes `client` (made by tide.aws.client's new) an S3 client.
function M.wrap(client, opts)
  client._force_path_style = opts and opts.force_path_style or false
  return setmetatable(client, S3)
end

-- ---------------------------------------------------------------------------
-- Waiters

local function not_found(v)
  return core.is_error(v, "aws") and (v.status == 404 or v.code == "NotFound" or v.code == "NoSuchBucket"
    or v.code == "NoSuchKey")
end

waiters.waiters.S3 = {
  bucket_exists = {
    operation = "HeadBucket", min_delay = 5, max_delay = 120,
    check = function(ok, v)
      if ok then return "success" end
      if not_found(v) then return nil end
      return "failure"
    end,
  },
  bucket_not_exists = {
    operation = "HeadBucket", min_delay = 5, max_delay = 120,
    check = function(ok, v)
      if ok then return nil end
      if not_found(v) then return "success" end
      return "failure"
    end,
  },
  object_exists = {
    operation = "HeadObject", min_delay = 5, max_delay = 120,
    check = function(ok, v)
      if ok then return "success" end
      if not_found(v) then return nil end
      return "failure"
    end,
  },
  object_not_exists = {
    operation = "HeadObject", min_delay = 5, max_delay = 120,
    check = function(ok, v)
      if ok then return nil end
      if not_found(v) then return "success" end
      return "failure"
    end,
  },
}

-- ---------------------------------------------------------------------------
-- Shared checks of upload and download

-- Splits a table of S3 params and tide options (lowercase) in two; raises
-- a usage error for an option `known` lacks.
local function split(t, known, fname, level)
  if type(t) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname:match("[^:]+$"), type(t)), level + 1)
  end
  local params, opts = {}, {}
  for k, v in pairs(t) do
    if type(k) == "string" and k:match("^%l") then opts[k] = v else params[k] = v end
  end
  local sig, rejected = signal.options(opts, fname, 1, known, level + 1)
  return params, opts, sig, rejected
end

local function count_option(opts, name, min, fname, level)
  local v = opts[name]
  if v == nil then return nil end
  if math_type(v) ~= "integer" or v < min then
    usage(level + 1, "%s: bad option '%s' (an integer >= %d expected, got %s)", fname, name, min, tostring(v))
  end
  return v
end

local function check_object(params, fname, level)
  if type(params.Bucket) ~= "string" or params.Bucket == "" then
    usage(level + 1, "%s needs Bucket (a non-empty string)", fname)
  end
  local ok, err = pcall(restxml.check_key, params.Key, fname)
  if not ok then error(err, level + 1) end
end

local function copy(t, except)
  local o = {}
  for k, v in pairs(t) do if not (except and except[k]) then o[k] = v end end
  return o
end

local function is_stream(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and type(mt.__index) == "table" and type(mt.__index.pull) == "function"
end

-- ---------------------------------------------------------------------------
-- upload

local UPLOAD_OPTIONS = { part_size = true, concurrency = true, on_progress = true, signal = true }

-- The pieces a part is kept in: reading and holding a part as pieces of
-- this size (never one string of part_size) keeps allocations small and
-- reused, which is several times faster than fresh multi-MiB buffers.
local PIECE = 256 * 1024

-- A reader of the body's parts, in order: reader:next(n) -> a list of
-- pieces (strings) of n bytes in all (fewer at the end; nil after it), and
-- its byte count. `size` is the body's size when known.
local function body_reader(body)
  if type(body) == "string" then
    local pos = 1
    return {
      size = #body,
      next = function(_, n)
        if pos > #body then return nil end
        local last = math.min(#body, pos + n - 1)
        local pieces = {}
        for i = pos, last, PIECE do pieces[#pieces + 1] = body:sub(i, math.min(last, i + PIECE - 1)) end
        local got = last - pos + 1
        pos = last + 1
        return pieces, got
      end,
    }
  end
  local fs = require "tide.fs"
  local file = require "tide.file"
  if file.is_file(body) or (type(body) == "table" and getmetatable(body) == nil and body.file ~= nil) then
    -- Parts are byte ranges of the file, {file =, offset =}: read (and
    -- hashed) in C, never as Lua strings, several at once.
    local f, start, size = body
    if not file.is_file(body) then
      f = body.file
      if type(f) ~= "string" then
        error(core.error("usage", "upload: Body {file = path}: path must be a string"), 0)
      end
      local ok, st = pawait(fs.stat(f))
      if not ok or st.type ~= "file" then
        error(core.error("usage", ("upload: Body {file = '%s'}: %s"):format(f,
          ok and "not a regular file" or tostring(st.message or st)), { path = f, cause = not ok and st or nil }), 0)
      end
      start, size = 0, st.size
    else
      start = f:seek("cur"):await()
      size = f:size():await() - start
    end
    local pos = 0
    return {
      size = size,
      next = function(_, n)
        if pos >= size then return nil end
        local got = math.min(n, size - pos)
        local range = { file = f, offset = start + pos }
        pos = pos + got
        return range, got
      end,
    }
  end
  -- A stream (or a function): its chunks, gathered into parts.
  local pull = type(body) == "function" and body or function() return body:pull() end
  local pending, done = nil, false
  return {
    next = function(_, n)
      local pieces, got = {}, 0
      if pending then
        pieces[1], got, pending = pending, #pending, nil
      end
      while got < n and not done do
        local chunk = pull()
        if chunk == nil then
          done = true
        else
          if type(chunk) ~= "string" then error(core.error("usage", "upload: a Body stream must give strings"), 0) end
          if chunk ~= "" then
            pieces[#pieces + 1] = chunk
            got = got + #chunk
          end
        end
      end
      if got == 0 then return nil end
      if got > n then
        -- The last chunk goes past the part: the rest starts the next one.
        local last = pieces[#pieces]
        local keep = #last - (got - n)
        pieces[#pieces], pending = last:sub(1, keep), last:sub(keep + 1)
        got = n
      end
      return pieces, got
    end,
    close = function() if type(body) == "table" and body.close then pcall(body.close, body) end end,
  }
end

local PUT_ONLY = { Body = true, ContentLength = true, ContentMD5 = true }

-- The body of s3:upload (runs as a task).
local function do_upload(self, params, part_size, concurrency, on_progress)
  local reader = body_reader(params.Body)
  local size = reader.size
  local sent = 0
  local function progress(n)
    sent = sent + n
    if on_progress then on_progress(sent, size) end
  end
  local ok, result = pcall(function()
    local first, first_n = reader:next(part_size)
    local second, second_n
    if first and first_n == part_size and (size == nil or size > part_size) then
      second, second_n = reader:next(part_size)
    end
    if not second then
      -- One PUT: the whole body fits in a part.
      local put = copy(params)
      put.Body, put.ContentLength = first or "", first and first_n or nil
      local out = self:put_object(put):await()
      progress(first_n or 0)
      return out
    end
    if size and (size + part_size - 1) // part_size > M.MAX_PARTS then
      error(core.error("usage", ("upload: %d bytes in parts of %d make more than %d parts (give a larger part_size)")
        :format(size, part_size, M.MAX_PARTS)), 0)
    end
    local create = copy(params, PUT_ONLY)
    local upload_id = self:create_multipart_upload(create):await().UploadId
    local parts, numbered = {}, 0
    local queued = { { first, first_n }, { second, second_n } }
    -- One reader: the parts are read (and numbered) one after another.
    local lock = require("tide.semaphore").semaphore(1)
    local function read_part()
      local q = table.remove(queued, 1)
      local pieces, n
      if q then pieces, n = q[1], q[2] else pieces, n = reader:next(part_size) end
      if pieces == nil then return nil end
      numbered = numbered + 1
      return { numbered, pieces, n }
    end
    local function next_part()
      local part = lock:with(read_part):await()
      if part then return part[1], part[2], part[3] end
    end
    local ok2, err = pcall(function()
      require("tide.scope").scope(function(scope)
        for _ = 1, concurrency do
          scope:spawn(function()
            while true do
              local number, data, n = next_part()
              if not number then return end
              if number > M.MAX_PARTS then
                error(core.error("usage", ("upload: more than %d parts (give a larger part_size)"):format(
                  M.MAX_PARTS)), 0)
              end
              local out = self:upload_part({ Bucket = params.Bucket, Key = params.Key, UploadId = upload_id,
                                             PartNumber = number, Body = data, ContentLength = n,
                                             ExpectedBucketOwner = params.ExpectedBucketOwner }):await()
              parts[#parts + 1] = { PartNumber = number, ETag = out.ETag }
              progress(n)
            end
          end)
        end
      end):await()
      table.sort(parts, function(a, b) return a.PartNumber < b.PartNumber end)
      local done = self:complete_multipart_upload({ Bucket = params.Bucket, Key = params.Key, UploadId = upload_id,
                                                    MultipartUpload = { Parts = parts } }):await()
      done.UploadId = upload_id
      done.parts = #parts
      return done
    end)
    if not ok2 then
      -- Whatever stopped the upload (a failed part, a cancel), no part is
      -- left behind: the abort runs in a task of its own, which a cancel of
      -- this one does not reach.
      pawait(spawn(function()
        return self:abort_multipart_upload({ Bucket = params.Bucket, Key = params.Key, UploadId = upload_id }):await()
      end))
      error(err, 0)
    end
    return err
  end)
  if reader.close then reader.close() end
  if not ok then error(result, 0) end
  return result
end

--- `s3:upload{Bucket=, Key=, Body=, part_size=, concurrency=, on_progress=,
--- signal=, ...}`: one PUT when Body fits in `part_size` (8 MiB; at least
--- 5 MiB), else a multipart upload with `concurrency` (4) parts in flight.
--- Body is a string, a tide.file, `{file = path}` or a stream; other
--- PascalCase params (ContentType, Metadata, ...) go to the PUT or the
--- create_multipart_upload. `on_progress(sent, total)` after each part
--- (total nil for a stream). On failure or cancel, the multipart upload is
--- aborted. A promise of the output of put_object or
--- complete_multipart_upload (with UploadId and parts).
--- @param t table
--- @return tide.promise
function S3:upload(t)
  check_s3(self, "upload", 2)
  local params, opts, sig, rejected = split(t, UPLOAD_OPTIONS, "tide.aws.s3:upload", 2)
  check_object(params, "upload", 2)
  local part_size = count_option(opts, "part_size", 1, "upload", 2) or M.PART_SIZE
  if part_size < M.MIN_PART then
    usage(2, "upload: part_size %d is under S3's least part size of 5 MiB (%d bytes)", part_size, M.MIN_PART)
  end
  local concurrency = count_option(opts, "concurrency", 1, "upload", 2) or M.CONCURRENCY
  if opts.on_progress ~= nil then check.callable(opts.on_progress, 1, "on_progress", 2) end
  local body = params.Body
  if body == nil then usage(2, "upload needs Body (a string, a tide.file, {file = path} or a stream)") end
  if not (type(body) == "string" or require("tide.file").is_file(body) or type(body) == "function"
      or is_stream(body) or (type(body) == "table" and getmetatable(body) == nil and type(body.file) == "string")) then
    usage(2, "upload: bad Body (a string, a tide.file, {file = path} or a stream expected, got %s)", type(body))
  end
  if rejected then return rejected end
  local task = spawn(do_upload, self, params, part_size, concurrency, opts.on_progress)
  if sig then signal.link(sig, task) end
  return task
end

-- ---------------------------------------------------------------------------
-- download

local DOWNLOAD_OPTIONS = { output = true, part_size = true, concurrency = true, on_progress = true, signal = true }
local HEAD_PARAMS = { VersionId = true, ExpectedBucketOwner = true, RequestPayer = true }

local function do_download(self, params, output, part_size, concurrency, on_progress)
  local fs = require "tide.fs"
  local head_params = { Bucket = params.Bucket, Key = params.Key }
  for k in pairs(HEAD_PARAMS) do head_params[k] = params[k] end
  local head = self:head_object(head_params):await()
  local size = head.ContentLength or 0
  local got = 0
  local function progress(n)
    got = got + n
    if on_progress then on_progress(got, size) end
  end
  local ranges = {}
  for start = 0, size - 1, part_size do
    ranges[#ranges + 1] = { start, math.min(size, start + part_size) - 1 }
  end
  -- The file is made (empty) first; each range is written at its own
  -- offset by tide.http, in C.
  fs.open(output, "wb"):await():close():await()
  local ok, err = pcall(function()
    local index = 0
    require("tide.scope").scope(function(scope)
      for _ = 1, math.min(concurrency, #ranges) do
        scope:spawn(function()
          while true do
            index = index + 1
            local r = ranges[index]
            if not r then return end
            local get = copy(head_params)
            get.Range = ("bytes=%d-%d"):format(r[1], r[2])
            get.IfMatch = head.ETag
            get.output = { file = output, offset = r[1] }
            local last = 0
            get.on_progress = function(now)
              if now > last then
                progress(now - last)
                last = now
              end
            end
            local out = self:get_object(get):await()
            local want = r[2] - r[1] + 1
            if last < want then progress(want - last) end
            if out.bytes ~= want then
              error(core.error("aws", ("download: range %d-%d gave %d bytes"):format(r[1], r[2], out.bytes or 0),
                { code = "IncompleteBody" }), 0)
            end
          end
        end)
      end
    end):await()
  end)
  if not ok then
    pawait(spawn(function() return fs.remove(output):await() end))
    error(err, 0)
  end
  head.metadata = nil
  return head
end

--- `s3:download{Bucket=, Key=, output=, part_size=, concurrency=,
--- on_progress=, signal=, VersionId=}`: the object's byte ranges of
--- `part_size` (8 MiB), `concurrency` (4) at a time, each written at its
--- offset of the file `output`. `on_progress(received, total)`. A promise
--- of the object's head_object output; on failure the file is removed.
--- @param t table
--- @return tide.promise
function S3:download(t)
  check_s3(self, "download", 2)
  local params, opts, sig, rejected = split(t, DOWNLOAD_OPTIONS, "tide.aws.s3:download", 2)
  check_object(params, "download", 2)
  if type(opts.output) ~= "string" or opts.output == "" then usage(2, "download needs output= (a file path)") end
  local part_size = count_option(opts, "part_size", 1, "download", 2) or M.PART_SIZE
  local concurrency = count_option(opts, "concurrency", 1, "download", 2) or M.CONCURRENCY
  if opts.on_progress ~= nil then check.callable(opts.on_progress, 1, "on_progress", 2) end
  for k in pairs(params) do
    if k ~= "Bucket" and k ~= "Key" and not HEAD_PARAMS[k] then
      usage(2, "download: unknown param '%s' (Bucket, Key, VersionId, ExpectedBucketOwner, RequestPayer)",
        tostring(k))
    end
  end
  if rejected then return rejected end
  local task = spawn(do_download, self, params, opts.output, part_size, concurrency, opts.on_progress)
  if sig then signal.link(sig, task) end
  return task
end

-- ---------------------------------------------------------------------------
-- presign

local PRESIGN_OPS = { get_object = "GetObject", put_object = "PutObject", GetObject = "GetObject",
                      PutObject = "PutObject", head_object = "HeadObject", HeadObject = "HeadObject",
                      delete_object = "DeleteObject", DeleteObject = "DeleteObject" }

--- `s3:presign(operation, params, {expires = 900})`: a presigned URL for
--- "get_object", "put_object", "head_object" or "delete_object", made
--- without I/O (the client's credentials must be at hand: given, from the
--- environment or a profile's keys, or fetched by an earlier call).
--- `x-amz-*` headers the params make (Metadata, ACL, ...) go into the URL;
--- others (ContentType) are signed and must be sent as given.
--- @param operation string
--- @param params table
--- @param opts {expires: integer}|nil
--- @return string
function S3:presign(operation, params, opts)
  check_s3(self, "presign", 2)
  local op = type(operation) == "string" and PRESIGN_OPS[operation]
  if not op then
    error(("bad argument #1 to 'presign' (get_object, put_object, head_object or delete_object expected, got %s)")
      :format(type(operation) == "string" and ("'" .. operation .. "'") or type(operation)), 2)
  end
  if type(params) ~= "table" then
    error(("bad argument #2 to 'presign' (params table expected, got %s)"):format(type(params)), 2)
  end
  check.options(opts, { expires = true }, "tide.aws.s3:presign", 3)
  local expires = opts and opts.expires or 900
  if math_type(expires) ~= "integer" or expires < 1 or expires > 604800 then
    usage(2, "presign: expires must be a whole number of seconds from 1 to 604800 (got %s)", tostring(expires))
  end
  if params.Body ~= nil then usage(2, "presign: a presigned URL carries no Body (send it with the URL)") end
  local ok, req = pcall(restxml.build, self, op, params)
  if not ok then error(req, 2) end
  if req.stream or req.output then usage(2, "presign: stream and output are options of the call, not of a URL") end
  local provider = self._provider
  local creds = provider:current()
  if not creds then
    -- Credentials that need no I/O (given, environment, a profile's keys)
    -- are there once asked for.
    provider:get():catch(function() end)
    creds = provider:current()
  end
  if not creds then
    usage(2, "presign: the credentials are not at hand without I/O (%s); await any call of this client first",
      tostring(provider))
  end
  local url, headers = req.url, {}
  local extra = {}
  for name, value in pairs(req.headers) do
    if name:match("^x%-amz%-") then
      extra[#extra + 1] = restxml.escape(name) .. "=" .. restxml.escape(value)
    else
      headers[name] = value
    end
  end
  if #extra > 0 then
    table.sort(extra)
    url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(extra, "&")
  end
  return sign.sign({ method = req.method, url = url, headers = headers }, creds,
    { region = self.region, service = "s3", presign = expires, date = os.time() + self._skew })
end

return M
