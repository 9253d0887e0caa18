--- Argument and option checks shared by the Lua modules (and by the C
--- functions that take options), so that a bad call reads the same
--- everywhere: "bad argument #1 to 'pull' (tide.stream expected; call it as
--- stream:pull(...))", raised at the caller's line, and for an option no
--- function knows a `usage` error naming both: "tide.sleep: unknown option
--- 'sigal'".
---
--- Every `level` below counts like error()'s, from the function that calls
--- the check: 2 (the default) blames that function's caller.
-- @module tide.check
local core = require "tide.core"

local getmetatable, type, error, math_type, next = getmetatable, type, error, math.type, next
local tostring = tostring

local check = {}

--- The most items a list, count or length given to tide may have: far above
--- any real list, low enough that a stray 2^40 fails at once instead of
--- looping for hours. (Defined in the C core, which checks it too.)
check.MAX_COUNT = require("tide.core").MAX_COUNT

--- The options of an operation whose only option is `signal=`.
check.SIGNAL_ONLY = { signal = true }

-- The short name Lua's own messages use: "send" for "tide.channel:send".
local function short(fname)
  return fname:match("[^.:]+$")
end

--- Whether v can be called.
--- @param v any
--- @return boolean
function check.is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

--- Raises unless `self` has metatable `mt` (a method called with `.` instead
--- of `:`, or on the wrong object). `what` names the object as the user
--- spells it ("stream"), `tname` its type ("tide.stream").
--- @param self any
--- @param mt table
--- @param tname string
--- @param what string
--- @param fname string
--- @param level integer|nil
function check.self(self, mt, tname, what, fname, level)
  if getmetatable(self) ~= mt then
    error(("bad argument #1 to '%s' (%s expected; call it as %s:%s(...))"):format(
      fname, tname, what, fname), (level or 2) + 1)
  end
end

--- Raises unless argument `n` of `fname` is callable.
--- @param v any
--- @param n integer
--- @param fname string
--- @param level integer|nil
function check.callable(v, n, fname, level)
  if not check.is_callable(v) then
    error(("bad argument #%d to '%s' (function expected, got %s)"):format(n, short(fname), type(v)),
          (level or 2) + 1)
  end
end

--- Raises unless argument `n` of `fname` is a number of seconds (not
--- negative, not NaN).
--- @param s any
--- @param n integer
--- @param fname string
--- @param level integer|nil
function check.seconds(s, n, fname, level)
  if type(s) ~= "number" or s ~= s or s < 0 then
    error(("bad argument #%d to '%s' (non-negative number expected, got %s)"):format(
      n, short(fname), type(s) == "number" and tostring(s) or type(s)), (level or 2) + 1)
  end
end

--- The length of a list: its `n` field if set, else `#list`. Raises if
--- that is not a count (a non-negative integer up to MAX_COUNT).
--- @param list table
--- @param n integer
--- @param fname string
--- @param level integer|nil
--- @return integer
function check.length(list, n, fname, level)
  local given = list.n
  if given == nil then given = #list end
  local len = math_type(given) and math.tointeger(given)
  if not len or len < 0 or len > check.MAX_COUNT then
    error(("bad argument #%d to '%s' (list length must be an integer from 0 to %d, got %s)"):format(
      n, short(fname), check.MAX_COUNT, math_type(given) and tostring(given) or type(given)), (level or 2) + 1)
  end
  return len
end

--- The one option policy. `opts` is argument `n` of `fname` (the name as
--- the user writes it: "tide.sleep", "tide.fs.read", "tide.channel:send");
--- `known` is the set of option names it takes (default: just `signal`).
--- Raises "bad argument" unless opts is nil or a table, a `usage` error for
--- an option `fname` does not know, and "bad option 'signal'" unless that
--- option is a tide.signal. Returns opts. The C functions that take options
--- call this too.
--- @param opts table|nil
--- @param known table<string, true>|nil
--- @param fname string
--- @param n integer
--- @param level integer|nil
--- @return table|nil
function check.options(opts, known, fname, n, level)
  if opts == nil then return nil end
  level = (level or 2) + 1
  if type(opts) ~= "table" then
    error(("bad argument #%d to '%s' (options table expected, got %s)"):format(n, short(fname), type(opts)),
          level)
  end
  known = known or check.SIGNAL_ONLY
  for k in next, opts do
    if not known[k] then
      error(core.error("usage", ("%s: unknown option '%s'"):format(fname, tostring(k))), level)
    end
  end
  local s = opts.signal
  if s ~= nil and getmetatable(s) ~= core.signal_mt then
    error(("bad option 'signal' to '%s' (tide.signal expected, got %s)"):format(short(fname), type(s)), level)
  end
  return opts
end

return check
