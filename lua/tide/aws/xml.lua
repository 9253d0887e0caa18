--- XML answers of the query protocol (SQS, SNS, STS, ...) decoded into Lua
--- tables through lua-expat: an element with text only becomes its text,
--- an element with children a table of them by name; a repeated child, or
--- one named in `lists`, becomes a list; `<member>` lists are unwrapped into
--- the list itself and `<entry><key/><value/></entry>` maps into a table.
-- @module tide.aws.xml
local lxp = require "lxp"
local core = require "tide.core"
local json = require "tide.json"

local concat = table.concat

local M = {}

--- Parses `text` into a tree of {name=, children={...}, text=}; raises an
--- `aws` error (code "XmlParseError") for text that is not XML.
--- @param text string
--- @return table root
function M.parse(text)
  local root = { children = {} }
  local stack = { root }
  local texts = { {} }
  local parser = lxp.new({
    StartElement = function(_, name)
      local node = { name = name:match("[^:]+$"), children = {} }
      local parent = stack[#stack]
      parent.children[#parent.children + 1] = node
      stack[#stack + 1] = node
      texts[#texts + 1] = {}
    end,
    EndElement = function()
      local node = stack[#stack]
      node.text = concat(texts[#texts])
      stack[#stack], texts[#texts] = nil, nil
    end,
    CharacterData = function(_, s)
      local t = texts[#texts]
      t[#t + 1] = s
    end,
  })
  local ok, msg, line = parser:parse(text)
  if ok then ok, msg, line = parser:parse() end
  pcall(parser.close, parser)
  if not ok or not root.children[1] then
    error(core.error("aws", ("malformed XML answer: %s (line %s)"):format(msg or "no element", line or "?"),
      { code = "XmlParseError" }), 0)
  end
  return root.children[1]
end

local convert

local function all_named(children, name)
  for i = 1, #children do
    if children[i].name ~= name then return false end
  end
  return true
end

local function child(node, name)
  for _, c in ipairs(node.children) do
    if c.name == name then return c end
  end
end

convert = function(node, lists)
  local children = node.children
  if #children == 0 then return node.text end
  if all_named(children, "member") then
    local out = json.array({})
    for i, c in ipairs(children) do out[i] = convert(c, lists) end
    return out
  end
  if all_named(children, "entry") then
    local out = {}
    for _, c in ipairs(children) do
      local k, v = child(c, "key"), child(c, "value")
      if k then out[k.text] = v and convert(v, lists) or "" end
    end
    return out
  end
  local out, seen = {}, {}
  for _, c in ipairs(children) do
    local name = c.name
    local value = convert(c, lists)
    if lists and lists[name] then
      local list = out[name] or json.array({})
      list[#list + 1] = value
      out[name] = list
    elseif seen[name] then
      if seen[name] == 1 then out[name] = json.array({ out[name] }) end
      seen[name] = seen[name] + 1
      out[name][#out[name] + 1] = value
    else
      seen[name] = 1
      out[name] = value
    end
  end
  return out
end

--- A node as a Lua value (see the module's description). An empty element
--- is "" unless `lists` names it (then an empty list).
--- @param node table
--- @param lists table<string, true>|nil
--- @return any
function M.value(node, lists)
  return convert(node, lists)
end

M.child = child

--- The first element named `name` anywhere under `node` (depth first).
--- @param node table
--- @param name string
--- @return table|nil
function M.find(node, name)
  if node.name == name then return node end
  for _, c in ipairs(node.children) do
    local found = M.find(c, name)
    if found then return found end
  end
end

return M
