--- The wire protocols of AWS services: how an operation's params become an
--- HTTP request and how the answer becomes the output table (or an error
--- code and message).
---
---   json       (1.0 / 1.1) POST / with X-Amz-Target: <prefix>.<Operation>
---              and the params as a JSON body (DynamoDB, Kinesis, SSM, ...)
---   query      POST / with Action=<Operation>&Version=<version>&params as a
---              form body; XML answers (SQS, SNS, STS)
---   rest-json  the operation is a method, a path and bindings of members to
---              the URI, query and headers (Lambda: tide.aws.rest_shapes)
-- @module tide.aws.protocols
local core = require "tide.core"
local json = require "tide.json"
local xml = require "tide.aws.xml"
local binary = require "tide.aws.dynamodb" -- B and BS values, base64 on the wire
local base64 = require "tide.aws.base64"

local type, pairs, ipairs, tostring, concat, sort, next = type, pairs, ipairs, tostring, table.concat, table.sort,
  next
local math_type = math.type

local M = {}

--- RFC 3986 escaping (every byte but the unreserved ones), as SigV4 wants.
--- @param s string
--- @return string
function M.escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end
local escape = M.escape

-- Form encoding for query-protocol bodies: as escape, but a space is "+",
-- as botocore sends it (and as moto's verifier rebuilds the body).
local function form_escape(s)
  return (s:gsub("[^%w%-%._~ ]", function(c) return ("%%%02X"):format(c:byte()) end):gsub(" ", "+"))
end
M.form_escape = form_escape

local function usage(fmt, ...)
  error(core.error("usage", fmt:format(...)), 0)
end

local function scalar(v, path)
  local t = type(v)
  if t == "string" then return v end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if math_type(v) == "integer" then return tostring(v) end
    return ("%.17g"):format(v)
  end
  usage("query parameter %s: %s cannot be sent", path, t)
end

local function is_list(t)
  if getmetatable(t) == getmetatable(json.array({})) then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- Flattens params into name/value pairs: nested structures as Name.Sub,
-- lists as Name.member.N (or Name.N for services with flattened lists).
-- `open` holds the tables being flattened (a table inside itself is a
-- usage error, not a name that grows for ever); `depth` is bounded as
-- tide.json bounds it.
local MAX_DEPTH = 32
local function flatten(out, prefix, v, flattened, open, depth)
  if type(v) ~= "table" then
    out[#out + 1] = { prefix, scalar(v, prefix) }
    return
  end
  if open[v] then usage("query parameter %s: a table inside itself cannot be sent", prefix) end
  if depth >= MAX_DEPTH then usage("query parameter %s: nested deeper than %d levels", prefix, MAX_DEPTH) end
  open[v] = true
  if is_list(v) then
    if #v == 0 then
      out[#out + 1] = { prefix, "" }
    else
      for i, item in ipairs(v) do
        flatten(out, flattened and ("%s.%d"):format(prefix, i) or ("%s.member.%d"):format(prefix, i), item,
          flattened, open, depth + 1)
      end
    end
  else
    for k, item in pairs(v) do
      if type(k) ~= "string" then usage("query parameter %s: keys must be strings", prefix) end
      flatten(out, prefix == "" and k or prefix .. "." .. k, item, flattened, open, depth + 1)
    end
  end
  open[v] = nil
end

-- ---------------------------------------------------------------------------
-- Query services with a model (tide.aws.query_shapes, generated from
-- botocore's): params by the API reference's member names, sent under the
-- wire's (`Attributes = {k = v}` -> Attribute.1.Name=k&Attribute.1.Value=v).

local query_shapes = require "tide.aws.query_shapes"

local function model_of(service, operation)
  local model = service.model and query_shapes[service.model]
  local op = model and model.ops[operation]
  if op then return model.shapes, op end
end

-- The wire name of a structure member `name` whose reference is `m`: a
-- flattened list goes under its member's name.
local function member_wire(shapes, name, m)
  local target = shapes[m[1]]
  if type(target) == "table" and target[1] == "l" and target[3] and target[4] then return target[4] end
  return m[2] or name
end

local function iso_time(v)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(v))
end

local serialize
serialize = function(out, prefix, v, shapes, shape_name, open, depth, flat)
  local shape = shape_name and shapes[shape_name]
  if type(shape) ~= "table" then
    if type(v) == "table" then return flatten(out, prefix, v, flat, open, depth) end
    if shape == "B" and type(v) == "string" then
      v = base64.encode(v)
    elseif shape == "t" and type(v) == "number" then
      v = iso_time(v)
    end
    out[#out + 1] = { prefix, scalar(v, prefix) }
    return
  end
  if type(v) ~= "table" then usage("query parameter %s: table expected, got %s", prefix, type(v)) end
  if open[v] then usage("query parameter %s: a table inside itself cannot be sent", prefix) end
  if depth >= MAX_DEPTH then usage("query parameter %s: nested deeper than %d levels", prefix, MAX_DEPTH) end
  open[v] = true
  local kind = shape[1]
  local dot = prefix == "" and "" or prefix .. "."
  if kind == "s" then
    local members = shape[2]
    for k, item in pairs(v) do
      if type(k) ~= "string" then usage("query parameter %s: keys must be strings", prefix) end
      local m = members[k]
      if m then
        serialize(out, dot .. member_wire(shapes, k, m), item, shapes, m[1], open, depth + 1, flat)
      else
        serialize(out, dot .. k, item, shapes, nil, open, depth + 1, flat)
      end
    end
  elseif kind == "l" then
    if #v == 0 and next(v) == nil then
      out[#out + 1] = { prefix, "" }
    else
      local base = shape[3] and prefix or (prefix .. "." .. (shape[4] or "member"))
      for i, item in ipairs(v) do serialize(out, base .. "." .. i, item, shapes, shape[2], open, depth + 1, flat) end
    end
  else -- map
    local base = shape[4] and prefix or (prefix .. ".entry")
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" then usage("query parameter %s: map keys must be strings", prefix) end
      keys[#keys + 1] = k
    end
    sort(keys)
    for i, k in ipairs(keys) do
      serialize(out, ("%s.%d.%s"):format(base, i, shape[5]), k, shapes, shape[2], open, depth + 1, flat)
      serialize(out, ("%s.%d.%s"):format(base, i, shape[6]), v[k], shapes, shape[3], open, depth + 1, flat)
    end
  end
  open[v] = nil
end

-- An XML node of an answer as the value of shape `shape_name`.
local decode_node
local function decode_scalar(text, kind)
  if kind == "i" then
    local n = tonumber(text)
    return n and (math.tointeger(n) or n) or text
  elseif kind == "d" then
    return tonumber(text) or text
  elseif kind == "b" then
    return text == "true"
  elseif kind == "B" then
    return base64.decode(text) or text
  end
  return text
end

decode_node = function(node, shapes, shape_name)
  local shape = shape_name and shapes[shape_name]
  if type(shape) ~= "table" then
    if #node.children > 0 then return xml.value(node) end
    return decode_scalar(node.text, shape)
  end
  local kind, children = shape[1], node.children
  if kind == "l" then
    local out, name = json.array({}), shape[4] or "member"
    for _, c in ipairs(children) do
      if c.name == name then out[#out + 1] = decode_node(c, shapes, shape[2]) end
    end
    return out
  elseif kind == "m" then
    local out = {}
    for _, c in ipairs(children) do
      if c.name == "entry" then
        local k, v = xml.child(c, shape[5]), xml.child(c, shape[6])
        if k then out[k.text] = v and decode_node(v, shapes, shape[3]) or "" end
      end
    end
    return out
  end
  -- A structure: its members by their wire names; other children as they are.
  local out, claimed, members = {}, {}, shape[2]
  for name, m in pairs(members) do
    local wire = member_wire(shapes, name, m)
    claimed[wire] = true
    local target = shapes[m[1]]
    local flat = type(target) == "table" and target[1] ~= "s" and target[target[1] == "l" and 3 or 4]
    for _, c in ipairs(children) do
      if c.name == wire then
        if flat and target[1] == "l" then
          local list = out[name] or json.array({})
          list[#list + 1] = decode_node(c, shapes, target[2])
          out[name] = list
        elseif flat then
          local map = out[name] or {}
          local k, v = xml.child(c, target[5]), xml.child(c, target[6])
          if k then map[k.text] = v and decode_node(v, shapes, target[3]) or "" end
          out[name] = map
        else
          out[name] = decode_node(c, shapes, m[1])
          break
        end
      end
    end
  end
  for _, c in ipairs(children) do
    if not claimed[c.name] and out[c.name] == nil then out[c.name] = decode_node(c, shapes, nil) end
  end
  return out
end

--- The form body of a query-protocol call.
--- @return string
function M.query_body(service, operation, params)
  local pairs_ = {}
  local shapes, op = model_of(service, operation)
  if shapes and op[1] then
    serialize(pairs_, "", params or {}, shapes, op[1], {}, 0, service.flattened)
  else
    flatten(pairs_, "", params or {}, service.flattened, {}, 0)
  end
  sort(pairs_, function(a, b) return a[1] < b[1] end)
  local parts = { "Action=" .. form_escape(operation), "Version=" .. form_escape(service.version) }
  for _, p in ipairs(pairs_) do parts[#parts + 1] = form_escape(p[1]) .. "=" .. form_escape(p[2]) end
  return concat(parts, "&")
end

-- ---------------------------------------------------------------------------
-- rest-json (Lambda): each operation's method, URI template and bindings
-- come from tide.aws.rest_shapes (generated from botocore's model): members
-- in the URI, the query and headers, the payload member, and the rest as a
-- JSON body (blobs in it base64).

local rest_shapes = require "tide.aws.rest_shapes"
local decode_json_body -- below

-- `t` with the blob at dotted `path` base64-encoded (copies on the way).
local function encode_blob_at(t, path)
  local head, rest = path:match("^([^.]+)%.(.+)$")
  if not head then
    local v = t[path]
    if type(v) ~= "string" then return t end
    local copy = {}
    for k, x in pairs(t) do copy[k] = x end
    copy[path] = base64.encode(v)
    return copy
  end
  local inner = t[head]
  if type(inner) ~= "table" then return t end
  local new = encode_blob_at(inner, rest)
  if new == inner then return t end
  local copy = {}
  for k, x in pairs(t) do copy[k] = x end
  copy[head] = new
  return copy
end

local function rest_build(operation, op, p)
  local method, template, bind = op[1], op[2], op[4]
  local uri, query, header = bind.uri or {}, bind.query, bind.header
  local path = template:gsub("{([%w_]+)(%+?)}", function(name, greedy)
    local v = p[name]
    if type(v) ~= "string" and type(v) ~= "number" then
      usage("%s needs %s (a string)", operation, name)
    end
    v = escape(tostring(v))
    if greedy == "+" then v = v:gsub("%%2F", "/") end
    return v
  end)
  local q
  if query then
    q = {}
    for member, wire in pairs(query) do q[wire] = p[member] end
  end
  local headers = {}
  if header then
    for member, wire in pairs(header) do
      local v = p[member]
      if v ~= nil then headers[wire:lower()] = scalar(v, member) end
    end
  end
  local body
  if bind.payload then
    local payload = p[bind.payload]
    if type(payload) == "table" then payload = json.encode(payload, bind.payload, 5) end
    body = payload or ""
    headers["content-type"] = bind.raw and "application/octet-stream" or "application/json"
  elseif method ~= "GET" and method ~= "HEAD" and method ~= "DELETE" then
    local fields, n = {}, 0
    for k, v in pairs(p) do
      if not (uri[k] or (query and query[k]) or (header and header[k])) then
        fields[k], n = v, n + 1
      end
    end
    for _, blob_path in ipairs(bind.blobs or {}) do fields = encode_blob_at(fields, blob_path) end
    body = n == 0 and "{}" or json.encode(fields, "params", 5)
    headers["content-type"] = "application/json"
  end
  -- The model's URIs start with the API version; the service's endpoint
  -- path is kept in front of it (request_url).
  return { method = method, path = path, query = q, headers = headers, body = body }
end

-- The output of a rest-json answer: the JSON body (or the raw payload) and
-- the members bound to headers and the status code.
local function rest_output(op, res)
  local bind = op[5]
  local out
  if bind.payload then
    out = { [bind.payload] = bind.raw and res.body or decode_json_body(res.body) }
  else
    out = decode_json_body(res.body)
  end
  if bind.header then
    for member, wire in pairs(bind.header) do
      local v = res.headers[wire:lower()]
      if v ~= nil then out[member] = v end
    end
  end
  if bind.status then out[bind.status] = res.status end
  return out
end

local function query_string(q)
  if not q then return "" end
  local keys = {}
  for k, v in pairs(q) do if v ~= nil then keys[#keys + 1] = k end end
  if #keys == 0 then return "" end
  sort(keys)
  for i, k in ipairs(keys) do keys[i] = escape(k) .. "=" .. escape(scalar(q[k], k)) end
  return "?" .. concat(keys, "&")
end

--- The request for `operation`: {method=, path=, query= (a string, "" or
--- "?a=b" already escaped), headers=, body=}. `path` is relative to the
--- endpoint's own path.
--- @param service table  an entry of tide.aws.services
--- @param operation string
--- @param params table
--- @return table
function M.build(service, operation, params)
  local proto = service.protocol
  if proto == "json" then
    if service.binary then params = binary.encode_binary(params) end
    local body = next(params) == nil and "{}" or json.encode(params, "params", 4)
    -- The headers depend on the operation only: made once (never changed
    -- after: the signer copies them).
    local cache = service._json_headers
    if not cache then
      cache = {}
      service._json_headers = cache
    end
    local headers = cache[operation]
    if not headers then
      headers = {
        ["content-type"] = "application/x-amz-json-" .. (service.json_version or "1.0"),
        ["x-amz-target"] = service.target_prefix .. "." .. operation,
      }
      cache[operation] = headers
    end
    return { method = "POST", path = "/", query = "", headers = headers, body = body }
  elseif proto == "query" then
    return {
      method = "POST", path = "/", query = "",
      headers = { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8" },
      body = M.query_body(service, operation, params),
    }
  elseif proto == "rest-json" then
    local ops = rest_shapes[service.model]
    local op = ops and ops[operation]
    if not op then
      usage("%s: operation %s is not supported (no rest-json model has it)", service.id, operation)
    end
    local req = rest_build(operation, op, params)
    req.query = query_string(req.query)
    return req
  end
  usage("%s: unknown protocol '%s'", service.id, tostring(proto))
end

decode_json_body = function(body)
  if body == nil or body == "" then return {} end
  local ok, v = pcall(json.decode, body)
  if not ok or type(v) ~= "table" then
    error(core.error("aws", "the answer is not a JSON object", { code = "SerializationException", cause = v }), 0)
  end
  return v
end

--- The output table of a successful answer, and the request id it carries
--- in its body (query protocol), if any.
--- @return table output
--- @return string|nil request_id
function M.parse(service, operation, res)
  local proto = service.protocol
  if proto == "json" then
    local out = decode_json_body(res.body)
    if service.binary then out = binary.decode_binary(out, res.body) end
    return out
  end
  if proto == "rest-json" then
    local ops = rest_shapes[service.model]
    local op = ops and ops[operation]
    if op then return rest_output(op, res) end
    return decode_json_body(res.body)
  end
  -- query: <OpResponse><OpResult>...</OpResult><ResponseMetadata>...
  local root = xml.parse(res.body or "")
  local result = xml.child(root, operation .. "Result")
  local shapes, op = model_of(service, operation)
  local output
  if shapes then
    output = result and op[2] and decode_node(result, shapes, op[2]) or {}
  else
    output = result and xml.value(result, service.lists and service.lists[operation]) or {}
  end
  if type(output) ~= "table" then output = {} end
  local meta = xml.child(root, "ResponseMetadata")
  local rid = meta and xml.child(meta, "RequestId")
  return output, rid and rid.text or nil
end

-- "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException" and
-- "ValidationException:http://internal..." -> the bare code.
local function sanitize(code)
  if type(code) ~= "string" then return nil end
  code = code:match("[^#]*$")
  code = code:match("^[^:]*")
  return code ~= "" and code or nil
end

--- The error code, message and request id of a failed answer (any of them
--- may be nil when the body says nothing).
--- @return string|nil code
--- @return string|nil message
--- @return string|nil request_id
function M.parse_error(service, res)
  local body = res.body or ""
  local header_code = sanitize(res.headers["x-amzn-errortype"])
  if service.protocol == "query" or body:match("^%s*<") then
    local ok, root = pcall(xml.parse, body)
    if ok then
      local err = xml.find(root, "Error") or root
      local code, msg = xml.child(err, "Code"), xml.child(err, "Message")
      local rid = xml.find(root, "RequestId") or xml.find(root, "RequestID")
      return sanitize(code and code.text) or header_code, msg and msg.text, rid and rid.text
    end
    return header_code, nil, nil
  end
  local ok, v = pcall(json.decode, body)
  if ok and type(v) == "table" then
    local code = sanitize(v.__type) or sanitize(v.code) or sanitize(v.Code) or header_code
    local msg = v.message or v.Message or v.errorMessage
    return code, type(msg) == "string" and msg or nil, nil
  end
  return header_code, nil, nil
end

return M
