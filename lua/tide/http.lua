--- tide.http: HTTP requests as promises, on libcurl's multi interface.
--
--     local res = tide.http.get("https://api.example.com/users/1"):await()
--     local user = res:raise_for_status():json()
--
--     local api = tide.http.client { base_url = "https://api.example.com", timeout = 10,
--                                    retry = { attempts = 3 } }
--     local orders = api:get("/orders", { query = { user = user.id } }):await():json()
--
-- Any status resolves (as with fetch); failures reject with `network`,
-- `timeout`, `too_many_redirects` or `body_too_large` errors, and
-- `raise_for_status` turns a 4xx/5xx into an `http` error.
-- @module tide.http
local core = require "tide.core"
local signal = require "tide.signal"
local stream = require "tide.stream"
local check = require "tide.check"
local retry = require("tide.retry").retry
local sse = require "tide.sse"
local tide_file = require "tide.file"
local date = require "tide.date"

local type, error, pairs, ipairs, tostring, setmetatable, getmetatable =
  type, error, pairs, ipairs, tostring, setmetatable, getmetatable
local concat, sort, escape, find = table.concat, table.sort, core.http_escape, string.find
local check_url_c = core.http_check_url

local json = require "tide.json"

local function usage(fmt, ...)
  error(core.error("usage", fmt:format(...)), 3)
end



-- ---------------------------------------------------------------------------
-- Responses

--- @class tide.http.response
--- @field status integer
--- @field headers table     case-insensitive; repeated headers joined with ", "
--- @field body string|nil   the whole body (nil when streamed or written to `output`)
--- @field bytes integer|nil with `output =`: the bytes written to the file
--- @field output string|tide.file|nil  with `output =`: where the body went
--- @field url string        after redirects
--- @field http_version string  "1.1", "2", ...
--- @field timings table     dns, connect, tls, first_byte, total (seconds)
local Response = {} -- its methods; they join the C class through core.interpose (below)
-- The class made in C: responses are tables with this metatable.
local response_mt = core.http_response_mt

-- The pairs of each headers table as they came, for its tostring.
local header_lists = setmetatable({}, { __mode = "k" })

-- Header lookups ignore case: res.headers["Content-Type"]. tostring gives
-- one `name: value` line per header, as sent.
local Headers = {
  __name = "tide.http.headers",
  __index = function(h, k)
    if type(k) == "string" then return rawget(h, k:lower()) end
  end,
  __tostring = function(h)
    local list, lines = header_lists[h], {}
    if list then
      for i = 1, list.n do lines[i] = list[i][1] .. ": " .. list[i][2] end
    else
      for k, v in pairs(h) do lines[#lines + 1] = tostring(k) .. ": " .. tostring(v) end
      sort(lines)
    end
    return concat(lines, "\n")
  end,
}

-- tostring gives each phase in milliseconds.
local Timings = {
  __name = "tide.http.timings",
  __tostring = function(t)
    local parts = {}
    for i, k in ipairs { "dns", "connect", "tls", "first_byte", "total" } do
      parts[i] = ("%s %.2f ms"):format(k, (tonumber(rawget(t, k)) or 0) * 1e3)
    end
    return "tide.http.timings (" .. concat(parts, ", ") .. ")"
  end,
}

-- Parses the raw header block (`_raw`) into the headers table (lowercased
-- names, repeated values joined with ", ") and the list of pairs as sent.
local function parse_headers(raw)
  local headers, list, n = setmetatable({}, Headers), {}, 0
  for line in raw:gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
    if name then
      n = n + 1
      list[n] = { name, value }
      local key = name:lower()
      local prev = rawget(headers, key)
      headers[key] = prev and (prev .. ", " .. value) or value
    end
  end
  list.n = n
  header_lists[headers] = list
  return headers, list
end

-- curl gives times since the start (µs); a response gives each phase's own.
local function build_timings(t)
  local dns, conn, tls, first, total = t[1], t[2], t[3], t[4], t[5]
  local ready = tls > conn and tls or conn
  return setmetatable({
    dns = dns / 1e6, connect = (conn > dns and conn - dns or 0) / 1e6,
    tls = (tls > conn and tls - conn or 0) / 1e6,
    first_byte = (first > ready and first - ready or 0) / 1e6, total = total / 1e6,
  }, Timings)
end

-- The check accessor of responses (raises naming the method fname).
local function check_response(res, fname)
  check.self(res, response_mt, "tide.http.response", "res", fname, 3)
end

-- Headers and timings are built on first use (most callers never look):
-- the class's __index calls this loader for a field a response lacks.
function Response._load(res, k)
  check_response(res, "_load")
  if k == "headers" or k == "_header_list" then
    local headers, list = parse_headers(rawget(res, "_raw"))
    rawset(res, "headers", headers)
    rawset(res, "_header_list", list)
    return rawget(res, k)
  elseif k == "timings" then
    local timings = build_timings(rawget(res, "_t"))
    rawset(res, "timings", timings)
    return timings
  end
end

--- Whether the status is 2xx.
function Response:ok()
  check_response(self, "ok")
  return self.status >= 200 and self.status < 300
end

--- The response itself if its status is not 4xx/5xx; otherwise raises an
--- `http` error with `status`, `url` and `body`.
function Response:raise_for_status()
  check_response(self, "raise_for_status")
  if self.status >= 400 then
    error(core.error("http", ("HTTP %d from %s"):format(self.status, self.url),
      { status = self.status, url = self.url, body = self.body, response = self }), 2)
  end
  return self
end

--- The body decoded as JSON (raises a `json` error if it is not JSON).
function Response:json()
  check_response(self, "json")
  if self.body == nil then
    if rawget(self, "bytes") then usage("this response's body went to a file (output =): read it from there") end
    usage("this response is streamed: read it with res:chunks() or res:lines()")
  end
  local ok, v = pcall(json.decode, self.body)
  if not ok then
    error(core.error("json", ("the body from %s is not valid JSON: %s"):format(self.url, tostring(v.message)),
      { url = self.url, body = self.body, offset = v.offset }), 2)
  end
  return v
end

--- Every value of the named header, in order (for set-cookie and the like).
--- @param name string
--- @return string[]
function Response:header_values(name)
  check_response(self, "header_values")
  if type(name) ~= "string" then
    error(("bad argument #1 to 'header_values' (string expected, got %s)"):format(type(name)), 2)
  end
  name = name:lower()
  local list, n = { n = 0 }, 0
  for i = 1, self._header_list.n do
    local pair = self._header_list[i]
    if pair[1]:lower() == name then
      n = n + 1
      list[n] = pair[2]
    end
  end
  list.n = n
  return list
end

local function transfer_of(res, fname)
  check.self(res, response_mt, "tide.http.response", "res", fname, 3)
  local t = rawget(res, "_transfer")
  if not t then usage("res:%s() needs a response requested with stream = true", fname) end
  return t
end

--- A stream of the body's pieces (strings) as they arrive. Memory stays
--- bounded: the transfer pauses while nobody reads.
--- @return tide.stream
function Response:chunks()
  local t = transfer_of(self, "chunks")
  return stream.producer(stream.new(function() return core.http_read(t):await() end,
    function() t:close() end))
end

--- A stream of the body's lines (without "\n" or "\r\n").
--- @return tide.stream
function Response:lines()
  local t = transfer_of(self, "lines")
  return stream.lines(function() return core.http_read(t):await() end, function() t:close() end)
end

--- A stream of the body's server-sent events `{event=, data=, id=,
--- retry=}`, parsed as the HTML standard says (see tide.sse).
--- @return tide.stream
function Response:events()
  local t = transfer_of(self, "events")
  return stream.producer(sse.events(function() return core.http_read(t):await() end, function() t:close() end))
end

--- Stops a streamed response (its connection closes). Also its `<close>`.
function Response:close()
  check_response(self, "close")
  local t = rawget(self, "_transfer")
  if t then t:close() end
end
Response.__close = Response.close

-- "tide.http.response (200, http://host/path, 1234 bytes)"
function Response:__tostring()
  check_response(self, "__tostring")
  local body = rawget(self, "body")
  local written, output = rawget(self, "bytes"), rawget(self, "output")
  local size = type(body) == "string" and ("%d bytes"):format(#body)
    or written and ("%d bytes written to %s"):format(written,
      type(output) == "string" and output or type(output) == "table" and tostring(output.path) or "a file")
    or rawget(self, "_transfer") and "streamed" or "no body"
  return ("tide.http.response (%s, %s, %s)"):format(tostring(rawget(self, "status")),
    tostring(rawget(self, "url")), size)
end

for name, method in pairs(Response) do core.interpose("tide.http.response", name, method) end

-- ---------------------------------------------------------------------------
-- Requests

local methods = { GET = true, HEAD = true, POST = true, PUT = true, PATCH = true, DELETE = true,
                  OPTIONS = true }
local empty = {}
-- The options a request takes, and their types, come from C's one table
-- of them (HTTP_OPTIONS in csrc/http_options.c).
local options = core.http_options

local function encode_pairs(t, what)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then usage("bad option '%s' (keys must be strings, got %s)", what, type(k)) end
    keys[#keys + 1] = k
  end
  sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    local list = type(v) == "table" and v or { v }
    -- A list gives the key once per item; anything else nested is refused
    -- rather than dropped.
    local n = 0
    for _ in pairs(list) do n = n + 1 end
    if n ~= #list then
      usage("bad option '%s' (value of '%s' must be a string, number, boolean or a list of them)", what, k)
    end
    for _, item in ipairs(list) do
      local tv = type(item)
      if tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
        usage("bad option '%s' (value of '%s' must be a string, number, boolean or a list of them)", what, k)
      end
      parts[#parts + 1] = escape(k) .. "=" .. escape(tostring(item))
    end
  end
  return concat(parts, "&")
end

-- Header names found good, so that the common ones are matched once (at
-- most 256 of them: names can come from anywhere).
local good_names, n_good_names = {}, 0

local function check_header(name, value)
  if not good_names[name] then
    if type(name) ~= "string" or not name:match("^[!#$%%&'*+%-.^_`|~%w]+$") then
      usage("bad header name %q", tostring(name))
    end
    if n_good_names < 256 then
      good_names[name], n_good_names = true, n_good_names + 1
    end
  end
  local tv = type(value)
  if tv ~= "string" and tv ~= "number" then
    usage("bad value for header '%s' (string expected, got %s)", name, tv)
  end
  value = tostring(value)
  -- (plain searches: a pattern's class costs ~20x as much on a long value)
  if find(value, "\r", 1, true) or find(value, "\n", 1, true) or find(value, "\0", 1, true) then
    usage("refusing header '%s': its value contains CR, LF or NUL (header injection)", name)
  end
  return name .. ": " .. value
end

-- A string bound for the request line or a header: CR or LF would start a
-- new line (header injection), NUL would cut it short.
local function check_text(what, s)
  if s:find("[%z\r\n]") then usage("bad option '%s' (contains CR, LF or NUL)", what) end
  return s
end

-- A malformed URL is the caller's mistake, raised at the call (and so
-- never retried): libcurl's URL parser says (core.http_check_url).
local function check_url(url)
  local why, scheme = check_url_c(url)
  if why then
    if scheme then usage("%s (got %q)", why, url) end
    usage("bad URL %q: %s", url, why)
  end
end

local function join_url(base, path)
  if path:match("^[%a][%w+.-]*://") or not base then return path end
  return (base:gsub("/+$", "")) .. "/" .. (path:gsub("^/+", ""))
end

-- Is `v` a stream or something to stream an upload from?
local function is_stream(v)
  local mt = getmetatable(v)
  return type(v) == "table" and mt ~= nil and type(v.pull) == "function"
end

local part_keys = { name = true, value = true, file = true, filename = true, content_type = true }

-- The parts of a multipart body, checked: each `{name=, value=}` or
-- `{name=, file=path, filename=, content_type=}` (strings; a value may be
-- a number). Copies, so that a later change by the caller sends nothing else.
local function multipart_parts(list)
  local n, parts = 0, {}
  for _ in pairs(list) do n = n + 1 end
  if n ~= #list or n == 0 then usage("bad option 'multipart' (a non-empty list of parts expected)") end
  for i = 1, n do
    local part = list[i]
    if type(part) ~= "table" then usage("bad option 'multipart' (part %d: table expected, got %s)", i, type(part)) end
    for k in pairs(part) do
      if not part_keys[k] then usage("bad option 'multipart' (part %d: unknown field '%s')", i, tostring(k)) end
    end
    local p = {}
    for k, v in pairs(part) do
      if k == "value" and type(v) == "number" then v = tostring(v) end
      if type(v) ~= "string" then
        usage("bad option 'multipart' (part %d: %s must be a string, got %s)", i, k, type(v))
      end
      -- Names, file names and types go into the part's header lines.
      if k ~= "value" then check_text("multipart." .. k, v) end
      p[k] = v
    end
    if not p.name then usage("bad option 'multipart' (part %d: name expected)", i) end
    if (p.value ~= nil) == (p.file ~= nil) then
      usage("bad option 'multipart' (part %d: give one of value and file)", i)
    end
    parts[i] = p
  end
  return parts
end

-- A multipart part's file that cannot be read (nil if all can be).
local function unreadable_part(parts)
  for i = 1, #parts do
    local path = parts[i].file
    if path then
      local f, msg = io.open(path, "rb")
      if not f then return core.error("fs", ("cannot read multipart file: %s"):format(msg), { path = path }) end
      f:close()
    end
  end
end

-- Options passed through to the C spec as they are.
local passthrough = core.http_passthrough

-- Builds the spec that core.http_request reads from the options: only what
-- is given, so that C looks at nothing else. Called for every request, so
-- it makes one table and no garbage it can avoid.
local function build_spec(client, opts, url, method)
  for k, v in pairs(opts) do
    local want = options[k]
    if want ~= "any" and type(v) ~= want then
      usage("bad option '%s' (%s expected, got %s)", k, want, type(v))
    end
  end
  if client._closed then usage("attempt to use a closed tide.http.client") end
  if type(url) ~= "string" then usage("bad option 'url' (string expected, got %s)", type(url)) end
  url = join_url(client.base_url, url)
  if opts.query then
    local q = encode_pairs(opts.query, "query")
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  check_url(url)
  method = method or opts.method
  if method == nil then
    method = "GET"
  elseif not methods[method] then
    local upper = method:upper()
    if not methods[upper] and not upper:match("^[A-Z]+$") then usage("bad HTTP method %q", method) end
    method = upper
  end

  local spec = { url = url, method = method }
  for i = 1, #passthrough do
    local k = passthrough[i]
    local v = opts[k]
    if v ~= nil then spec[k] = v end
  end
  if spec.timeout == nil then spec.timeout = client.timeout end
  if spec.proxy then check_text("proxy", spec.proxy) end

  -- Headers: a request's own replace the client's defaults of the same
  -- name (case-insensitively); `has` maps lowercased names to their index.
  local headers, has
  local function add(name, value)
    headers = headers or {}
    has = has or {}
    local line = check_header(name, value)
    local key = name:lower()
    local at = has[key]
    if not at then
      at = #headers + 1
      has[key] = at
    end
    headers[at] = line
  end
  if client.headers then for name, value in pairs(client.headers) do add(name, value) end end
  if opts.headers then
    -- Client defaults first (above), then the request's: a later add of
    -- the same name overwrites the earlier line.
    for name, value in pairs(opts.headers) do add(name, value) end
  end

  local body = opts.body
  if opts.json ~= nil or opts.form ~= nil then
    if (body ~= nil and 1 or 0) + (opts.json ~= nil and 1 or 0) + (opts.form ~= nil and 1 or 0) > 1 then
      usage("give only one of body, json and form")
    end
    if opts.json ~= nil then
      -- A value that cannot be encoded names the path from `json` and the
      -- line of the request: build_spec (1) < send (2) < the caller of
      -- the request function (3), since every request function tail-calls send.
      body = json.encode(opts.json, "json", 3)
      if not (has and has["content-type"]) then add("Content-Type", "application/json") end
    else
      body = encode_pairs(opts.form, "form")
      if not (has and has["content-type"]) then add("Content-Type", "application/x-www-form-urlencoded") end
    end
  end
  if opts.multipart ~= nil then
    if body ~= nil then usage("give only one of body, json, form and multipart (got multipart and another)") end
    if method == "GET" or method == "HEAD" then usage("a %s request cannot have a body", method) end
    spec.multipart = multipart_parts(opts.multipart)
  end
  local upload, files
  local length = opts.content_length
  if length ~= nil then
    if not (length >= 0 and length < 2 ^ 53 and length == length // 1) then
      usage("bad option 'content_length' (a byte count expected, got %s)", tostring(length))
    end
    length = length // 1
    if body == nil then usage("bad option 'content_length' (the request has no body)") end
  end
  if body ~= nil then
    if method == "GET" or method == "HEAD" then usage("a %s request cannot have a body", method) end
    -- libcurl would label a body it is given as a form; data of unknown
    -- kind goes without a Content-Type instead (as with Python's requests).
    if not (has and has["content-type"]) then
      headers = headers or {}
      headers[#headers + 1] = "Content-Type:"
    end
    if type(body) == "string" then
      spec.body = body
      if length and length ~= #body then
        usage("bad option 'content_length' (%d, but the body has %d bytes)", length, #body)
      end
    elseif tide_file.is_file(body) or (type(body) == "table" and getmetatable(body) == nil and body.file ~= nil) then
      -- A file, read by libcurl from its descriptor (opened, for a path,
      -- by each attempt: see file_attempt).
      local range
      if not tide_file.is_file(body) then
        for k in pairs(body) do
          if k ~= "file" and k ~= "offset" and k ~= "length" then
            usage("bad option 'body' (unknown field '%s' in {file = path, offset =, length =})", tostring(k))
          end
        end
        local v = body.file
        if not tide_file.is_file(v) and (type(v) ~= "string" or v == "" or v:find("\0", 1, true)) then
          usage("bad option 'body' ({file = path} expects a path or a tide.file, got %s)", type(v))
        end
        for _, k in ipairs { "offset", "length" } do
          local n = body[k]
          if n ~= nil and not (math.type(n) == "integer" and n >= 0) then
            usage("bad option 'body' (%s: a byte count expected, got %s)", k, tostring(n))
          end
        end
        if body.offset or body.length then range = { offset = body.offset or 0, length = body.length } end
        body = v
      end
      if length then usage("bad option 'content_length' (a file body is sent with the file's size)") end
      files = { body = body, body_range = range }
    elseif is_stream(body) or type(body) == "function" then
      upload = body
      spec.upload = true
      spec.content_length = length
    else
      usage("bad option 'body' (string, file, {file = path}, stream or function expected, got %s)", type(body))
    end
  end
  local output = opts.output
  if output ~= nil then
    local at
    if type(output) == "table" and getmetatable(output) == nil then
      -- {file = path|tide.file, offset = n}: written at n (several
      -- requests may fill ranges of one file at once).
      for k in pairs(output) do
        if k ~= "file" and k ~= "offset" then
          usage("bad option 'output' (unknown field '%s' in {file =, offset =})", tostring(k))
        end
      end
      at = output.offset
      if not (math.type(at) == "integer" and at >= 0) then
        usage("bad option 'output' (offset: a byte offset expected, got %s)", tostring(at))
      end
      output = output.file
    end
    if type(output) == "string" then
      if output == "" or output:find("\0", 1, true) then usage("bad option 'output' (a file path expected)") end
    elseif not tide_file.is_file(output) then
      usage("bad option 'output' (a path or a tide.file expected, got %s)", type(output))
    end
    if opts.stream then usage("give only one of output and stream") end
    files = files or {}
    files.output, files.output_at = output, at
  end
  if opts.auth then
    if type(opts.auth.user) ~= "string" or type(opts.auth.password) ~= "string" then
      usage("bad option 'auth' ({user = string, password = string} expected)")
    end
    spec.username = check_text("auth.user", opts.auth.user)
    spec.password = check_text("auth.password", opts.auth.password)
  end
  local sig4 = opts.aws_sigv4
  if sig4 then
    local key = sig4.key or os.getenv("AWS_ACCESS_KEY_ID")
    local secret = sig4.secret or os.getenv("AWS_SECRET_ACCESS_KEY")
    if type(key) ~= "string" or type(secret) ~= "string" then
      usage("aws_sigv4 needs key and secret (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    end
    for _, k in ipairs { "region", "service" } do
      if type(sig4[k]) ~= "string" then usage("bad option 'aws_sigv4' (%s: string expected)", k) end
      check_text("aws_sigv4." .. k, sig4[k])
    end
    if sig4.provider ~= nil then
      if type(sig4.provider) ~= "string" then usage("bad option 'aws_sigv4' (provider: string expected)") end
      check_text("aws_sigv4.provider", sig4.provider)
    end
    check_text(sig4.key and "aws_sigv4.key" or "AWS_ACCESS_KEY_ID", key)
    check_text(sig4.secret and "aws_sigv4.secret" or "AWS_SECRET_ACCESS_KEY", secret)
    spec.aws_sigv4 = ("%s:%s:%s"):format(sig4.provider or "aws:amz", sig4.region, sig4.service)
    spec.username, spec.password = key, secret
    -- S3 wants the payload's hash; an unsigned payload is allowed over TLS
    -- and by S3-compatible services.
    if not (has and has["x-amz-content-sha256"]) then add("x-amz-content-sha256", "UNSIGNED-PAYLOAD") end
  end
  spec.headers = headers
  return spec, upload, files
end

-- Feeds a streaming upload from `source` (a stream, or a function returning
-- the next chunk and nil at the end) into the request `req`. With `length`
-- (content_length), the body must be exactly that long: the last bytes go
-- only once the source has ended, so a longer body never looks complete to
-- the server, and the request rejects with a `usage` error instead.
local function feed(req, source, length)
  local pull = type(source) == "function" and source or function() return source:pull() end
  local function close_source()
    if type(source) == "table" and source.close then source:close() end
  end
  local function next_chunk()
    local chunk = pull()
    if chunk ~= nil and type(chunk) ~= "string" then
      error(core.error("usage", "an upload stream must give strings"), 0)
    end
    return chunk
  end
  local function wrong_length(sent)
    error(core.error("usage", ("the upload body is %s than its content_length (%d bytes)"):format(
      sent > length and "longer" or "shorter", length), { content_length = length }), 0)
  end
  return core.spawn(function()
    local ok, err = pcall(function()
      local sent = 0
      while true do
        local chunk = next_chunk()
        if chunk == nil then break end
        if length then
          sent = sent + #chunk
          if sent > length then wrong_length(sent) end
          if sent == length then
            -- The declared end: the source must end here too.
            local extra = next_chunk()
            while extra == "" do extra = next_chunk() end
            if extra ~= nil then wrong_length(sent + #extra) end
          end
        end
        -- false: the request finished (an early answer) or was stopped.
        if chunk ~= "" and not core.http_write(req, chunk):await() then
          close_source()
          return
        end
        if length and sent == length then break end
      end
      if length and sent < length then wrong_length(sent) end
      core.http_write(req, nil):await()
    end)
    if not ok then
      -- Cancelled with its request (it ended while the source was pulled):
      -- the source is closed as when the request stops taking data.
      if core.is_error(err, "cancelled") then pcall(close_source) end
      error(err, 0)
    end
  end)
end

-- Closes descriptor fd once (at once, on this thread: the request works on
-- its own duplicate) when it goes out of scope, or when called.
local function fd_closer(fd)
  local open = true
  local function close()
    if open then
      open = false
      core.fs_close_now(fd)
    end
  end
  return setmetatable({}, { __close = close, __call = close })
end

-- The path of a body or output: given as one, or a tide.file's.
local function path_of(where) return type(where) == "string" and where or where.path end

-- A tide.file a request may use: open, and readable or writable.
local function check_file_object(f, writing)
  local bad = tide_file.unusable(f, writing)
  if bad then error(bad, 0) end
end

-- One attempt of a request with files (`output =`, `body =` a file): a task
-- that opens the paths (the output created or truncated, so that a retry
-- starts it again) or takes the tide.files at their positions, hands the
-- descriptors to the request (which works on duplicates of its own: ours
-- close at once), and awaits it. Every failure to open or use a file is an
-- `fs` rejection before a byte is sent. A tide.file given as output moves
-- past what was written; one given as body stays where it was.
local function file_attempt(start, s, files)
  return core.spawn(function()
    local out, body = files.output, files.body
    local out_close, body_close
    local _ <close> = setmetatable({}, { __close = function()
      if out_close then out_close() end
      if body_close then body_close() end
    end })
    if body ~= nil then
      local fd, pos
      if type(body) == "string" then
        pos = 0
        fd = core.fs_open(body, "r"):await()
        body_close = fd_closer(fd)
      else
        check_file_object(body, false)
        fd, pos = body._fd, body._pos
      end
      local st = core.fs_fstat(fd, path_of(body)):await()
      if st.type == "directory" then
        error(tide_file.fs_error(path_of(body), "EISDIR", "illegal operation on a directory", "read"), 0)
      elseif st.type ~= "file" then
        error(tide_file.fs_error(path_of(body), "EINVAL",
          "not a regular file (send it as a stream body instead)", "read"), 0)
      end
      local range, size = files.body_range, st.size > pos and st.size - pos or 0
      if range then
        -- {file = path, offset =, length =}: that range only, which must
        -- be in the file.
        local n = range.length or (st.size > range.offset and st.size - range.offset or 0)
        if range.offset + n > st.size then
          error(tide_file.fs_error(path_of(body), "EINVAL",
            ("the body range (%d bytes from %d) passes the end of the file (%d bytes)"):format(
              n, range.offset, st.size),
            "read"), 0)
        end
        pos, size = range.offset, n
      end
      s.body_fd, s.body_offset, s.body_size = fd, pos, size
    end
    local start_pos, created
    if out ~= nil then
      local fd, offset
      local at = files.output_at
      if type(out) == "string" then
        -- Opened without truncation: the file is cut (to the offset) only
        -- when a 2xx body comes, so an error answer leaves it as it was.
        local ok, f = core.pawait(core.fs_open(out, "r+"))
        if not ok then
          if not (core.is_error(f, "fs") and f.code == "ENOENT") then error(f, 0) end
          f = core.fs_open(out, "w"):await()
          created = true
        end
        fd = f
        out_close = fd_closer(fd)
        local st = core.fs_fstat(fd, out):await()
        offset = (st.type == "file" or st.type == "block") and (at or 0) or -1
        s.output_truncate = st.type == "file" and not at
      else
        check_file_object(out, true)
        fd = out._fd
        if at then
          if not out._seekable or out._append then
            error(tide_file.fs_error(out.path, "ESPIPE", "output offset on a file that cannot seek", "write"), 0)
          end
          offset = at
        else
          offset = (out._seekable and not out._append) and out._pos or -1
          start_pos = out._pos
        end
      end
      s.output_fd, s.output_offset = fd, offset
    end
    local req = start(s)
    -- The request has its own descriptors now.
    if out_close then out_close() end
    if body_close then body_close() end
    local ok, res = core.pawait(req)
    if not ok then
      local reading = core.is_error(res, "fs") and res.syscall == "read"
      error(tide_file.with_path(res, path_of(reading and body or out or body)), 0)
    end
    -- Only a 2xx body went to the file (another one is res.body); a path
    -- this attempt created for it is removed again.
    if rawget(res, "bytes") then
      if start_pos and out._state == "open" then out._pos = start_pos + res.bytes end
      rawset(res, "output", out)
    elseif created then
      core.pawait(core.fs_unlink(out))
    end
    return res
  end)
end

local function retryable_status(status) return status == 429 or status == 502 or status == 503 or status == 504 end

-- The delay a Retry-After value asks for, in seconds (nil if malformed):
-- delay-seconds, or an HTTP date (IMF-fixdate, RFC 850 or asctime, as RFC
-- 9110 says a recipient accepts) less the time now.
local function retry_after(v)
  if not v then return nil end
  local n = v:match("^%s*(%d+)%s*$")
  if n then return tonumber(n) end
  local at = date.parse_http(v)
  if not at then return nil end
  local delay = at - os.time()
  return delay > 0 and delay or 0
end

-- The request a client's hooks see: method, url and its headers by name
-- ("" for a header the request removes, as Content-Type on a plain body).
local function hook_request(spec)
  local headers = {}
  local lines = spec.headers
  if lines then
    for i = 1, #lines do
      local name, value = lines[i]:match("^([^:]+):%s?(.*)$")
      headers[name] = value
    end
  end
  return { method = spec.method, url = spec.url, headers = headers }
end

-- The spec with the headers a hook left in req (checked as any headers).
local function hooked_spec(spec, req)
  if type(req.headers) ~= "table" then
    usage("on_request: req.headers must be a table (got %s)", type(req.headers))
  end
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  local lines, n = {}, 0
  for name, value in pairs(req.headers) do
    n = n + 1
    lines[n] = value == "" and check_header(name, "x"):gsub(": x$", ":") or check_header(name, value)
  end
  sort(lines)
  s.headers = n > 0 and lines or nil
  return s
end

-- One attempt of a client with hooks: a task that runs on_request (which
-- may await and change the headers), the request, then on_response. An
-- error in a hook rejects the attempt with that error, unchanged.
local function hooked(client, spec, start)
  local req = hook_request(spec)
  local s = spec
  if client.on_request then
    client.on_request(req)
    s = hooked_spec(spec, req)
  end
  local res = start(s):await()
  if client.on_response then client.on_response(res, req) end
  return res
end

-- `fname` and `argn` name the function and the argument that opts is.
local function send(client, opts, url, method, fname, argn)
  local sig, rejected = signal.options(opts, fname, argn, options)
  local spec, upload, files = build_spec(client, opts, url or opts.url, method)
  if rejected then return rejected end
  if spec.multipart then
    local err = unreadable_part(spec.multipart)
    if err then return core.reject(err) end
  end
  local start
  local function start_request(s)
    if files then return file_attempt(start, s, files) end
    return start(s)
  end
  function start(s)
    local req = core.http_request(client._c, s)
    if upload then
      local feeder = feed(req, upload, spec.content_length)
      feeder:catch(function(e) core.cancel(req, e) end)
      -- The request's Lua values (its spec): C cancels the feeder when the
      -- request ends while the feeder is busy in the body function.
      s.feeder = feeder
    end
    return req
  end
  local attempt
  if client.on_request or client.on_response then
    attempt = function() return core.spawn(hooked, client, spec, start_request) end
  else
    attempt = function() return start_request(spec) end
  end
  local policy = opts.retry or client.retry
  if not policy or upload then
    local req = attempt()
    if sig then signal.link(sig, req) end
    return req
  end
  -- Retries: network failures, timeouts and 429/502/503/504 answers; the
  -- last attempt's outcome is what the caller sees.
  local r = {}
  for k, v in pairs(policy) do r[k] = v end
  r.signal = sig
  local attempts = r.attempts or 3
  local user_should = r.should_retry
  r.should_retry = function(err, n)
    if user_should then return user_should(err, n) end
    return core.is_error(err, "network") or core.is_error(err, "timeout") or core.is_error(err, "retry_status")
  end
  return retry(function(n)
    local res = attempt():await()
    if n < attempts and retryable_status(res.status) then
      -- Retry-After on 429 and 503 says when to come back (capped by max).
      local after = (res.status == 429 or res.status == 503) and retry_after(res.headers["retry-after"]) or nil
      error(core.error("retry_status", ("HTTP %d from %s"):format(res.status, res.url),
        { status = res.status, response = res, retry_after = after }), 0)
    end
    return res
  end, r)
end

-- ---------------------------------------------------------------------------
-- Clients

--- @class tide.http.client
local Client = {}
Client.__index = Client
Client.__name = "tide.http.client"

local client_options = { base_url = "string", headers = "table", timeout = "number",
                         max_connections = "number", max_per_host = "number", retry = "table",
                         on_request = "function", on_response = "function", cookies = "boolean|string" }

--- A client: shares connections, DNS answers and TLS sessions between its
--- requests. `base_url` is joined to relative paths with one "/";
--- `headers` and `timeout` are defaults for every request.
--- `on_request(req)` runs before each attempt with `req = {method=, url=,
--- headers=}` (headers by name; changes to them are sent) and
--- `on_response(res, req)` after it; both run in a task and may await, and
--- an error in either rejects the request with that error, unchanged.
--- `retry` (options of tide.retry) retries network failures, timeouts and 429/502/503/504,
--- after the delay a 429's or 503's Retry-After asks for (capped by `max`).
--- @param opts table|nil
--- @return tide.http.client
local function new_client(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("bad argument #1 to 'client' (options table expected, got %s)"):format(type(opts)), 2)
  end
  check.options(opts, client_options, "tide.http.client", 1)
  for k, v in pairs(opts) do
    local want = client_options[k]
    if type(v) ~= want and not (k == "cookies" and (type(v) == "boolean" or type(v) == "string")) then
      usage("bad option '%s' to tide.http.client (%s expected, got %s)", k, want, type(v))
    end
  end
  if type(opts.cookies) == "string" and (opts.cookies == "" or opts.cookies:find("%z")) then
    usage("bad option 'cookies' to tide.http.client (a file path expected)")
  end
  if opts.headers then for name, value in pairs(opts.headers) do check_header(name, value) end end
  if opts.base_url then check_url(opts.base_url) end
  return setmetatable({
    _c = core.http_client { max_connections = opts.max_connections, max_per_host = opts.max_per_host,
                            cookies = opts.cookies },
    base_url = opts.base_url, headers = opts.headers, timeout = opts.timeout, retry = opts.retry,
    on_request = opts.on_request, on_response = opts.on_response,
  }, Client)
end

--- Sends a request; the promise fulfils with the response.
--- @param opts table  see tide.http.request
--- @return tide.promise
function Client:request(opts)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'request' (tide.http.client expected; call it as client:request(opts))", 2)
  end
  if type(opts) ~= "table" then
    error(("bad argument #1 to 'request' (options table expected, got %s)"):format(type(opts)), 2)
  end
  return send(self, opts, nil, nil, "tide.http.client:request", 1)
end

-- client:get(url, opts) and the like; `prefix` names them in errors.
local function shortcut(method, prefix)
  local fname = prefix .. method:lower()
  return function(self, url, opts)
    if getmetatable(self) ~= Client then
      error(("bad argument #1 to '%s' (tide.http.client expected; call it as client:%s(url))"):format(
        method:lower(), method:lower()), 2)
    end
    if type(url) ~= "string" then
      error(("bad argument #1 to '%s' (string expected, got %s)"):format(method:lower(), type(url)), 2)
    end
    if opts == nil then
      opts = empty
    elseif type(opts) ~= "table" then
      error(("bad argument #2 to '%s' (options table expected, got %s)"):format(method:lower(), type(opts)), 2)
    end
    return send(self, opts, url, method, fname, 2)
  end
end

for _, m in ipairs { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" } do
  Client[m:lower()] = shortcut(m, "tide.http.client:")
end

--- The cookies in the client's jar (made with `cookies =`), as libcurl
--- keeps them: a list of `{name=, value=, domain=, path=, secure=,
--- http_only=, include_subdomains=, expires=}` (`expires` 0: a session
--- cookie). Empty for a client without a jar.
--- @return table[]
function Client:cookies()
  check.self(self, Client, "tide.http.client", "client", "cookies")
  local list = {}
  for i, line in ipairs(self._c:cookies()) do
    local http_only = false
    if line:sub(1, 10) == "#HttpOnly_" then
      http_only = true
      line = line:sub(11)
    end
    local domain, sub, path, secure, expires, name, value =
      line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
    list[i] = { domain = domain, include_subdomains = sub == "TRUE", path = path, secure = secure == "TRUE",
                expires = tonumber(expires), name = name, value = value, http_only = http_only }
  end
  return list
end

--- Closes the client: its requests in flight are cancelled (they reject
--- with `cancelled`) and its pooled connections close. Never raises, so
--- that a client's `<close>` lets the error that unwinds it pass. Also its
--- `<close>`.
function Client:close()
  check.self(self, Client, "tide.http.client", "client", "close")
  self._closed = true
  self._c:close()
end

-- Its `<close>` (and that of a wrong value: nothing happens).
function Client:__close()
  if getmetatable(self) ~= Client or self._closed then return end
  self._closed = true
  self._c:close()
end

-- "tide.http.client (https://api.example.com, 2 in flight)", "(closed)"
function Client:__tostring()
  local base = rawget(self, "base_url")
  local state = rawget(self, "_closed") and "closed" or tostring(self._c):match("%((.*)%)$")
  return ("tide.http.client (%s%s)"):format(base and base .. ", " or "", state)
end

-- ---------------------------------------------------------------------------
-- The module

-- get, post, ... (made in a loop below) are declared in tide/meta.lua.
--- @class tide.http
local M = { client = new_client, Response = Response }
local default

local function default_client()
  default = default or new_client()
  return default
end

--- `tide.http.request{url=, method=, query=, headers=, body=, json=, form=,
--- timeout=, connect_timeout=, follow=true, max_redirects=, verify=true,
--- ca_file=, proxy=, auth={user=, password=}, aws_sigv4={region=, service=,
--- key=, secret=}, http_version=, signal=, stream=,
--- on_progress=function(dl_now, dl_total, ul_now, ul_total),
--- max_body_size=, decompress=true, buffer_size=, content_length=, retry=}`
--- -> promise of a response (default client).
--- @param opts table
--- @return tide.promise
function M.request(opts)
  if type(opts) ~= "table" then
    error(("bad argument #1 to 'request' (options table expected, got %s)"):format(type(opts)), 2)
  end
  return send(default_client(), opts, nil, nil, "tide.http.request", 1)
end

for _, m in ipairs { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" } do
  local f = shortcut(m, "tide.http.")
  M[m:lower()] = function(url, opts) return f(default_client(), url, opts) end
end

local event_source_options = { client = "table", headers = "table", query = "table", reconnect = "number",
                               signal = "any", connect_timeout = "number", verify = "boolean", ca_file = "string",
                               proxy = "string", auth = "table", unix_socket = "string",
                               max_reconnects = "number", on_open = "function" }

--- `tide.http.event_source(url, {client=, headers=, query=, reconnect=3,
--- max_reconnects=, on_open=, signal=, ...})`: a stream of the server-sent
--- events at url, as a browser's EventSource gets them. When the
--- connection drops (the body ends, or a network error) it connects again
--- after the server's `retry` (else `reconnect` seconds), sending
--- `Last-Event-ID`; after `max_reconnects` (default: no limit) failed
--- connections in a row it raises the last error. A response that is not
--- 200 with Content-Type text/event-stream raises an `http` error (204 ends
--- the stream). `signal` (or closing the stream, or cancelling the task
--- that reads it) stops it: the connection closes.
--- @param url string
--- @param opts table|nil
--- @return tide.stream
function M.event_source(url, opts)
  if type(url) ~= "string" then
    error(("bad argument #1 to 'event_source' (string expected, got %s)"):format(type(url)), 2)
  end
  opts = opts or empty
  if type(opts) ~= "table" then
    error(("bad argument #2 to 'event_source' (options table expected, got %s)"):format(type(opts)), 2)
  end
  local sig, rejected = signal.options(opts, "tide.http.event_source", 2, event_source_options)
  -- Already aborted: the first pull raises the reason.
  if rejected then rejected:catch(function() end) end
  for k, v in pairs(opts) do
    local want = event_source_options[k]
    if want ~= "any" and type(v) ~= want then
      usage("bad option '%s' to tide.http.event_source (%s expected, got %s)", k, want, type(v))
    end
  end
  local client = opts.client
  if client ~= nil and getmetatable(client) ~= Client then
    usage("bad option 'client' to tide.http.event_source (tide.http.client expected)")
  end
  local reconnect = opts.reconnect or 3
  if reconnect ~= reconnect or reconnect < 0 then usage("bad option 'reconnect' (non-negative number expected)") end
  local max_reconnects = opts.max_reconnects
  -- The request options, checked now as any request's.
  local req = { stream = true, signal = sig, headers = {} }
  for k, v in pairs(opts) do
    if k ~= "client" and k ~= "reconnect" and k ~= "max_reconnects" and k ~= "on_open" and k ~= "headers" then
      req[k] = v
    end
  end
  if opts.headers then for name, value in pairs(opts.headers) do req.headers[name] = value end end
  if req.headers.Accept == nil then req.headers.Accept = "text/event-stream" end
  req.headers["Cache-Control"] = req.headers["Cache-Control"] or "no-cache"
  build_spec(client or default_client(), req, url, "GET")

  local parser = sse.parser()
  local res, events -- the current connection
  local closed, opened, failures = false, false, 0
  local function drop()
    if res then res:close() end
    res, events = nil, nil
  end
  -- An abort stops the body too (the request itself is long fulfilled).
  if sig and not rejected then
    sig:on_abort(function()
      closed = true
      drop()
    end)
  end
  local function connect()
    local last = parser.last_id
    parser = sse.parser()
    parser.last_id, parser._id = last, last
    req.headers["Last-Event-ID"] = last
    local r = (client or default_client()):get(url, req):await()
    local ctype = (r.headers["content-type"] or ""):lower()
    if r.status == 204 then
      r:close()
      return false
    end
    if r.status ~= 200 or not ctype:find("^text/event%-stream") then
      r:close()
      error(core.error("http", ("HTTP %d (%s) from %s: not an event stream"):format(r.status, ctype, r.url),
        { status = r.status, url = r.url, response = r }), 0)
    end
    res = r
    events = sse.events(function() return core.http_read(rawget(r, "_transfer")):await() end, nil, parser)
    if opts.on_open then opts.on_open(r) end
    return true
  end
  local function pull()
    if rejected then rejected:await() end
    while not closed do
      if not res then
        if opened then
          local wait = parser.retry and parser.retry / 1000 or reconnect
          core.sleep(wait, sig and { signal = sig } or nil):await()
        end
        opened = true
        local ok, more = pcall(connect)
        if not ok then
          if not (core.is_error(more, "network") or core.is_error(more, "timeout")) then error(more, 0) end
          failures = failures + 1
          if max_reconnects and failures > max_reconnects then error(more, 0) end
        elseif not more then
          closed = true
          return nil
        end
      end
      if events then
        local ok, ev = pcall(events.pull, events)
        if ok and ev ~= nil then
          failures = 0
          return ev
        end
        if not ok and not core.is_error(ev, "network") then
          drop()
          error(ev, 0)
        end
        drop() -- the connection dropped: connect again
      end
    end
    if sig and sig.aborted then error(sig.reason, 0) end
  end
  return stream.producer(stream.new(pull, function()
    closed = true
    drop()
  end))
end

--- Closes the default client (the module functions make a new one when
--- next used): its requests in flight are cancelled.
function M.close()
  if default then
    default:close()
    default = nil
  end
end

return M
