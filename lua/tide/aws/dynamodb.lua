--- DynamoDB items to and from Lua tables, as the JS SDK's marshall and
--- unmarshall:
---
---     aws.dynamodb.marshal{ id = 7, name = "Ada", tags = {"a", "b"}, gone = tide.json.null }
---     --> { id = {N = "7"}, name = {S = "Ada"}, tags = {L = {{S = "a"}, {S = "b"}}},
---           gone = {NULL = true} }
---
--- Numbers travel as strings (AWS's `N`): integers stay integers both ways,
--- other numbers are floats. `tide.json.null` stands for NULL. A list (a
--- sequence, or a table marked with tide.json.array) becomes `L`, any other
--- table `M`. Sets (SS, NS, BS) unmarshal to lists.
---
--- Binary values (`B`, `BS`) are Lua strings of their bytes wherever a
--- caller sees them: in params (`Key = {data = {B = "\0\1"}}`), in outputs
--- and from `unmarshal`; they travel base64-encoded, as the JS SDK sends
--- its Uint8Arrays. `aws.dynamodb.binary(s)` marks a string for `marshal`
--- as `B` (a plain string is `S`).
-- @module tide.aws.dynamodb
local core = require "tide.core"
local json = require "tide.json"
local base64 = require "tide.aws.base64"

local type, pairs, ipairs, tostring, math_type, getmetatable, setmetatable, next =
  type, pairs, ipairs, tostring, math.type, getmetatable, setmetatable, next
local null, array = json.null, json.array

local M = {}

local array_mt = getmetatable(array({}))

--- @class tide.aws.dynamodb.binary
--- @field bytes string
local Binary = { __name = "tide.aws.dynamodb.binary" }
Binary.__index = Binary
function Binary.__tostring(b) return ("tide.aws.dynamodb.binary (%d bytes)"):format(#b.bytes) end

--- Marks the bytes `s` as a binary value: `marshal` makes it `{B = s}`.
--- @param s string
--- @return tide.aws.dynamodb.binary
function M.binary(s)
  if type(s) ~= "string" then
    error(("bad argument #1 to 'binary' (string expected, got %s)"):format(type(s)), 2)
  end
  return setmetatable({ bytes = s }, Binary)
end

local function usage(path, fmt, ...)
  error(core.error("usage", ("marshal: %s: " .. fmt):format(path, ...)), 0)
end

-- The shortest decimal text that reads back as the same float.
local function float_text(v, path)
  if v ~= v or v == math.huge or v == -math.huge then usage(path, "%s cannot be stored in DynamoDB", tostring(v)) end
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

local function is_list(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local value

value = function(v, path, depth)
  local t = type(v)
  if t == "string" then return { S = v } end
  if t == "boolean" then return { BOOL = v } end
  if t == "number" then
    if math_type(v) == "integer" then return { N = tostring(v) } end
    return { N = float_text(v, path) }
  end
  if v == null then return { NULL = true } end
  if t == "table" and getmetatable(v) == Binary then return { B = v.bytes } end
  if t == "table" then
    if depth > 32 then usage(path, "nested deeper than 32 levels (DynamoDB's limit)") end
    if is_list(v) then
      local l = array({})
      for i, x in ipairs(v) do l[i] = value(x, ("%s[%d]"):format(path, i), depth + 1) end
      return { L = l }
    end
    local m = {}
    for k, x in pairs(v) do
      if type(k) ~= "string" then usage(path, "keys must be strings (got %s)", type(k)) end
      m[k] = value(x, path .. "." .. k, depth + 1)
    end
    return { M = m }
  end
  usage(path, "a %s cannot be stored in DynamoDB", t)
end

--- A Lua table as a DynamoDB item (a map of attribute values).
--- @param t table
--- @return table
function M.marshal(t)
  if type(t) ~= "table" then
    error(("bad argument #1 to 'marshal' (table expected, got %s)"):format(type(t)), 2)
  end
  local item = {}
  for k, v in pairs(t) do
    if type(k) ~= "string" then
      error(("bad argument #1 to 'marshal' (attribute names must be strings, got %s)"):format(type(k)), 2)
    end
    local ok, av = pcall(value, v, k, 1)
    if not ok then error(av, 2) end
    item[k] = av
  end
  return item
end

--- One Lua value as an attribute value ({S=}, {N=}, ...).
--- @param v any
--- @return table
function M.marshal_value(v)
  local ok, av = pcall(value, v, "value", 1)
  if not ok then error(av, 2) end
  return av
end

-- "7" -> 7 (an integer), "7.5" and "1e3" -> floats, as Lua reads them.
local function number(s)
  local n = tonumber(s)
  if n == nil then error(core.error("usage", ("unmarshal: bad number '%s'"):format(tostring(s))), 0) end
  return n
end

local unvalue
unvalue = function(av)
  if type(av) ~= "table" then error(core.error("usage", "unmarshal: attribute value table expected"), 0) end
  if av.S ~= nil then return av.S end
  if av.N ~= nil then return number(av.N) end
  if av.BOOL ~= nil then return av.BOOL end
  if av.NULL ~= nil then return null end
  if av.L ~= nil then
    local out = array({})
    for i, x in ipairs(av.L) do out[i] = unvalue(x) end
    return out
  end
  if av.M ~= nil then
    local out = {}
    for k, x in pairs(av.M) do out[k] = unvalue(x) end
    return out
  end
  if av.SS ~= nil or av.BS ~= nil then
    local out = array({})
    for i, x in ipairs(av.SS or av.BS) do out[i] = x end
    return out
  end
  if av.NS ~= nil then
    local out = array({})
    for i, x in ipairs(av.NS) do out[i] = number(x) end
    return out
  end
  if av.B ~= nil then return av.B end
  error(core.error("usage", "unmarshal: unknown attribute value type"), 0)
end

--- A DynamoDB item as a Lua table.
--- @param item table
--- @return table
function M.unmarshal(item)
  if type(item) ~= "table" then
    error(("bad argument #1 to 'unmarshal' (table expected, got %s)"):format(type(item)), 2)
  end
  local out = {}
  for k, av in pairs(item) do
    local ok, v = pcall(unvalue, av)
    if not ok then error(v, 2) end
    out[k] = v
  end
  return out
end

-- ---------------------------------------------------------------------------
-- On the wire: B and BS as base64. Attribute values are the only DynamoDB
-- shapes with members named B and BS, and they have one member each, so a
-- table whose only key is B (a string) or BS (a list of strings) is one.

local function only_key(t, k)
  return next(t) == k and next(t, k) == nil
end

-- `v` with every binary attribute value inside it mapped by `f` (a copy of
-- each table on the way to one; `v` itself when there is none).
local function map_binary(v, f, depth)
  if type(v) ~= "table" or depth > 64 then return v end
  local b = v.B
  if type(b) == "string" and only_key(v, "B") then return { B = f(b) } end
  local bs = v.BS
  if type(bs) == "table" and only_key(v, "BS") then
    local out = array({})
    for i, x in ipairs(bs) do
      if type(x) ~= "string" then return v end
      out[i] = f(x)
    end
    return { BS = out }
  end
  local copy
  for k, x in pairs(v) do
    local y = map_binary(x, f, depth + 1)
    if y ~= x then
      if not copy then
        copy = setmetatable({}, getmetatable(v))
        for k2, x2 in pairs(v) do copy[k2] = x2 end
      end
      copy[k] = y
    end
  end
  return copy or v
end

local function decode64(s)
  local bytes, why = base64.decode(s)
  if not bytes then
    error(core.error("aws", "a binary value in the answer is not base64: " .. why,
      { code = "SerializationException" }), 0)
  end
  return bytes
end

--- The params of a call with their binary values base64-encoded (the
--- given table unchanged).
--- @param params table
--- @return table
function M.encode_binary(params)
  return map_binary(params, base64.encode, 0)
end

--- A decoded answer with its binary values decoded from base64, when its
--- JSON text `body` has any.
--- @param out table
--- @param body string
--- @return table
function M.decode_binary(out, body)
  if not (body:find('"B"', 1, true) or body:find('"BS"', 1, true)) then return out end
  return map_binary(out, decode64, 0)
end

return M
