-- Regression of issue 15 (hostile input): every method and metamethod of
-- tide's objects called directly with a wrong `self` (a string, a table,
-- nil, a foreign userdata, another tide object) raises a Lua error and
-- never crashes. Runs in a child process, so that a crash fails the spec
-- instead of ending busted; under `make test-asan` the child inherits the
-- sanitizers, so an out-of-bounds read fails it too.
local helper = require "spec.helper"

-- The child calls every function found in the metatables (and their
-- __index tables) of tide's types with each kind of wrong value, printing
-- each call first (so that a crash names it), then what returned without
-- raising. SKIP: calls left out, comma-separated.
local SCRIPT = [==[
local tide = require "tide"
local skip = {}
for w in (os.getenv("SKIP") or ""):gmatch("[^,]+") do skip[w] = true end
local reg = debug.getregistry()
local names = { "tide.promise", "tide.task", "tide.timer", "tide.error", "tide.signal",
  "tide.http.pool", "tide.http.transfer", "tide.http.response" }
tide.run(function()
  local closed = tide.http.client()
  closed:close()
  local objs = {
    string = "x", table = {}, ["nil"] = nil, number = 42, ["function"] = print,
    foreign = io.stdout, promise = tide.resolve(1), task = tide.spawn(function() end),
    timer = tide.set_timeout(function() end, 100), error = tide.error("x", "y"),
    signal = tide.abort_controller().signal, client = tide.http.client(), closed_client = closed,
  }
  local kinds = { "string", "table", "nil", "number", "function", "foreign", "promise", "task",
    "timer", "error", "signal", "client", "closed_client" }
  local returned = {}
  for _, name in ipairs(names) do
    local mt = assert(reg[name], name)
    local fns = {}
    for k, v in pairs(mt) do if type(v) == "function" then fns[#fns + 1] = { k, v } end end
    if type(mt.__index) == "table" then
      for k, v in pairs(mt.__index) do if type(v) == "function" then fns[#fns + 1] = { k, v } end end
    end
    table.sort(fns, function(a, b) return a[1] < b[1] end)
    for _, kv in ipairs(fns) do
      for _, kind in ipairs(kinds) do
        local id = name .. "." .. kv[1] .. "(" .. kind .. ")"
        if not skip[id] then
          io.stdout:write("call ", id, "\n")
          io.stdout:flush()
          -- A task is a promise: promise methods on it are right, not wrong.
          local right = kind == name:match("[^.]+$") or (kind == "task" and name == "tide.promise")
            or (kind == "promise" and name == "tide.task" and kv[1] ~= "cancel" and kv[1] ~= "traceback")
          if pcall(kv[2], objs[kind], objs[kind]) and not right then returned[#returned + 1] = id end
        end
      end
    end
  end
  objs.timer:cancel()
  objs.client:close()
  print("returned without error: " .. table.concat(returned, " "))
end)
print("survived")
]==]

-- Calls that may return: await returns what is not a promise as it is
-- (documented), and tide.error's and tide.signal's __tostring (tables,
-- written with Lua's own checks) show any value.
local function allowed(id)
  return id:find("%.await%(") or id:find("^tide%.error%.__tostring%(")
    or id:find("^tide%.signal%.__tostring%(")
end

local function check(skip)
  local out, status = helper.lua(SCRIPT, nil, { SKIP = skip or "" })
  local last = nil
  for call in out:gmatch("call ([^\n]+)\n") do last = call end
  assert(status == 0 and out:find("survived", 1, true),
    ("the child died (status %s) at %s:\n%s"):format(tostring(status), tostring(last), out:sub(-2000)))
  local list = out:match("returned without error: ([^\n]*)")
  local wrong = {}
  for id in list:gmatch("%S+") do
    if not allowed(id) then wrong[#wrong + 1] = id end
  end
  assert(#wrong == 0, "returned without raising: " .. table.concat(wrong, " "))
end

-- The __tostring of tide.promise and tide.task crashed on anything but a
-- promise (issue 15, item 4).
local TOSTRING = {}
for _, t in ipairs { "promise", "task" } do
  for _, kind in ipairs { "string", "table", "nil", "number", "function", "foreign", "timer",
    "error", "signal", "client", "closed_client" } do
    TOSTRING[#TOSTRING + 1] = ("tide.%s.__tostring(%s)"):format(t, kind)
  end
end

describe("methods and metamethods called with a wrong self", function()
  it("raise, and never crash (all but the promise __tostring)", function()
    check(table.concat(TOSTRING, ","))
  end)

  -- Every metamethod checks its argument (the check accessors of
  -- tide_class_new's classes).
  it("raise, and never crash (all of them)", function()
    check()
  end)
end)
