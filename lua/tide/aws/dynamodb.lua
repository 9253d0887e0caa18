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
-- @module tide.aws.dynamodb
local core = require "tide.core"
local json = require "tide.json"

local type, pairs, ipairs, tostring, math_type, getmetatable = type, pairs, ipairs, tostring, math.type, getmetatable
local null, array = json.null, json.array

local M = {}

local array_mt = getmetatable(array({}))

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

return M
