-- Types for editors: every public function of tide (spec/support/api.lua
-- walks them from `require "tide"`) has LuaLS annotations that an editor
-- finds. A function written in Lua needs a `--- @...` comment block right
-- above its definition (debug.getinfo says where that is), or above the
-- assignment that names it in its file (`fs.write = writer(...)`); a
-- function written in C, or made in a loop, must be declared in the
-- `---@meta` file lua/tide/meta.lua (`function tide.sleep(...)` or
-- `function promise:next(...)` after `--- @class tide.promise` and
-- `local promise = {}`, or a `--- @field`).
local api = require "spec.support.api"

local function read_lines(path)
  local f = assert(io.open(path, "rb"))
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  return lines
end

local function is_comment(line) return line:match("^%s*%-%-") ~= nil end
local function is_annotation(line) return line:match("^%s*%-%-%-%s*@%a") ~= nil end

-- Whether the comment block that ends on the line above `n` holds an
-- annotation.
local function annotated_above(lines, n)
  local i = n - 1
  while i >= 1 and is_comment(lines[i]) do
    if is_annotation(lines[i]) then return true end
    i = i - 1
  end
  return false
end

-- "tide.channel:send" and "tide.channel.send" name the same thing.
local function norm(name) return (name:gsub(":", ".")) end

--- The names the meta file declares: "class.name" for each annotated
--- `function v.name` / `function v:name` (v a local made right after a
--- `--- @class`) and each `--- @field name` of a class; and the parent of
--- each class that has one.
local function parse_meta(path)
  local lines = read_lines(path)
  assert(lines[1] == "---@meta", path .. " must start with ---@meta")
  local declared, parents, alias = {}, {}, {}
  local class
  for n, line in ipairs(lines) do
    local cname, parent = line:match("^%-%-%-%s*@class%s+([%w_.]+)%s*:?%s*([%w_.]*)")
    if cname then
      class = cname
      if parent ~= "" then parents[cname] = parent end
    end
    local field = line:match("^%-%-%-%s*@field%s+([%w_]+)")
    if field and class then declared[class .. "." .. field] = true end
    local var = line:match("^local%s+([%w_]+)%s*=%s*{%s*}")
    if var and class then alias[var] = class end
    local owner, fname = line:match("^function%s+([%w_.]+)[.:]([%w_]+)%s*%(")
    if owner and annotated_above(lines, n) then
      declared[(alias[owner] or owner) .. "." .. fname] = true
    end
  end
  return declared, parents
end

local sources = {}
local function source_lines(path)
  sources[path] = sources[path] or read_lines(path)
  return sources[path]
end

-- Whether a function written in Lua is annotated where it is defined, or
-- where its file assigns it under its public name.
local function annotated_in_source(fn, short)
  local info = debug.getinfo(fn, "S")
  if info.what ~= "Lua" or info.source:sub(1, 1) ~= "@" then return false end
  local lines = source_lines(info.source:sub(2))
  if annotated_above(lines, info.linedefined) then return true end
  local pattern = "^%s*[%w_.:]*%f[%w_]" .. short .. "%s*=[^=]"
  for n, line in ipairs(lines) do
    if line:match(pattern) and annotated_above(lines, n) then return true end
  end
  return false
end

describe("the LuaLS annotations", function()
  local meta_path = assert(package.searchpath("tide.meta", package.path), "tide.meta not found on package.path")
  local declared, parents = parse_meta(meta_path)

  local function in_meta(name)
    local n = norm(name)
    while true do
      if declared[n] then return true end
      local class, member = n:match("^(.*)%.([%w_]+)$")
      local parent = class and parents[class]
      if not parent then return false end
      n = parent .. "." .. member
    end
  end

  it("declare every public function", function()
    local missing = {}
    for _, e in ipairs(api.functions()) do
      local short = e.name:match("[%w_]+$")
      if not (annotated_in_source(e.fn, short) or in_meta(e.name)) then missing[#missing + 1] = e.name end
    end
    assert(#missing == 0, "no annotation for: " .. table.concat(missing, ", "))
  end)

  it("do not load the meta file at run time", function()
    require "tide"
    assert.is_nil(package.loaded["tide.meta"])
  end)

  it("parse what they are meant to find", function()
    -- The parser itself: a C function, a method through its class alias,
    -- an inherited method and a Lua function with its block.
    assert.is_true(in_meta("tide.sleep"))
    assert.is_true(in_meta("tide.promise:next"))
    assert.is_true(in_meta("tide.task:next"))
    assert.is_false(in_meta("tide.no_such_function"))
    assert.is_true(annotated_in_source(require("tide").timeout, "timeout"))
    assert.is_false(annotated_in_source(function() end, "anonymous"))
  end)
end)
