--- Sections of bench/RESULTS.md written by commands other than bench/run
--- (the soak test), kept between markers so that each writer replaces only
--- its own part and bench/run carries them over when it rewrites the file:
---
---     <!-- section soak -->
---     ...
---     <!-- /section soak -->
---
--- As a command: `lua5.4 bench/sections.lua NAME FILE` replaces section NAME
--- of FILE with standard input (the file is created if missing).
local M = {}

local function markers(name)
  return "<!-- section " .. name .. " -->", "<!-- /section " .. name .. " -->"
end

local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text
end

--- Every section of the file at `path`, in order, each with its markers:
--- a list of strings.
function M.all(path)
  local found = {}
  for block in read(path):gmatch("<!%-%- section [%w_-]+ %-%->.-<!%-%- /section [%w_-]+ %-%->") do
    found[#found + 1] = block
  end
  return found
end

--- Puts `body` as section `name` of the file at `path`, in place of the old
--- one, or at the end.
function M.replace(path, name, body)
  local open, close = markers(name)
  local block = open .. "\n" .. body:gsub("\n*$", "") .. "\n" .. close
  local text = read(path)
  local first = text:find(open, 1, true)
  local _, last = text:find(close, 1, true)
  if first and last then
    text = text:sub(1, first - 1) .. block .. text:sub(last + 1)
  else
    text = text:gsub("\n*$", "") .. (text ~= "" and "\n\n" or "") .. block .. "\n"
  end
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

if arg and arg[0] and arg[0]:match("sections%.lua$") then
  local name, path = arg[1], arg[2]
  if not (name and path and name:match("^[%w_-]+$")) then
    io.stderr:write("usage: lua5.4 bench/sections.lua NAME FILE < body\n")
    os.exit(2)
  end
  M.replace(path, name, io.read("a"))
end

return M
