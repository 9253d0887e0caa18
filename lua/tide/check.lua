--- Argument checks shared by the Lua modules, so that a bad call reads the
--- same everywhere: "bad argument #1 to 'pull' (tide.stream expected; call
--- it as stream:pull(...))", raised at the caller's line.
-- @module tide.check
local getmetatable, type, error, math_type = getmetatable, type, error, math.type

local check = {}

--- The most items a list, count or length given to tide may have: far above
--- any real list, low enough that a stray 2^40 fails at once instead of
--- looping for hours.
check.MAX_COUNT = 1 << 28

--- Whether v can be called.
function check.is_callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

--- Raises unless `self` has metatable `mt` (a method called with `.` instead
--- of `:`, or on the wrong object). `what` names the object as the user
--- spells it ("stream"), `tname` its type ("tide.stream").
function check.self(self, mt, tname, what, fname, level)
  if getmetatable(self) ~= mt then
    error(("bad argument #1 to '%s' (%s expected; call it as %s:%s(...))"):format(
      fname, tname, what, fname), (level or 2) + 1)
  end
end

--- Raises unless argument `n` of `fname` is callable.
function check.callable(v, n, fname, level)
  if not check.is_callable(v) then
    error(("bad argument #%d to '%s' (function expected, got %s)"):format(n, fname, type(v)),
          (level or 2) + 1)
  end
end

--- The length of a list: its `n` field if set, else `#list`. Raises if
--- that is not a count (a non-negative integer up to MAX_COUNT).
function check.length(list, n, fname, level)
  local given = list.n
  if given == nil then given = #list end
  local len = math_type(given) and math.tointeger(given)
  if not len or len < 0 or len > check.MAX_COUNT then
    error(("bad argument #%d to '%s' (list length must be an integer from 0 to %d, got %s)"):format(
      n, fname, check.MAX_COUNT, math_type(given) and tostring(given) or type(given)), (level or 2) + 1)
  end
  return len
end

return check
