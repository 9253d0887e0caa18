--- Helpers shared by the Lua benchmark programs (tide and the Lua peers):
--- reading the command line, the memory figures from /proc, and the one
--- machine-readable RESULT line that every program prints and
--- bench/driver.lua parses. Kept free of any event loop so that loading it
--- costs a peer nothing.
local M = {}

--- Positional argument `i` (the driver passes N first) as an integer.
function M.arg_int(i, default)
  local v = arg[i]
  if v == nil or v == "" then return default end
  return math.tointeger(tonumber(v)) or error(("argument #%d: integer expected, got %q"):format(i, v))
end

--- Positional argument `i` as a string.
function M.arg_str(i, default)
  local v = arg[i]
  if v == nil or v == "" then return default end
  return v
end

--- A field of /proc/self/status in bytes ("VmRSS": resident now, "VmHWM":
--- the resident peak since start or since reset_peak).
function M.proc_status(field)
  local f = assert(io.open("/proc/self/status", "r"))
  local text = f:read("a")
  f:close()
  local kb = text:match(field .. ":%s*(%d+) kB")
  return assert(tonumber(kb), field .. " not in /proc/self/status") * 1024
end

--- Resets VmHWM to the current VmRSS (Linux: "5" to clear_refs), so that a
--- later VmHWM is the peak of the measured stretch alone, not of start-up.
function M.reset_peak()
  local f = assert(io.open("/proc/self/clear_refs", "w"))
  f:write("5")
  f:close()
end

--- Wall clock for programs that have no event loop of their own: luv's
--- hrtime when luv is installed (it is only read, its loop never runs),
--- else os.clock (CPU seconds, equal to wall time for these CPU-bound loops).
function M.clock()
  local ok, uv = pcall(require, "luv")
  if ok then
    local hrtime = uv.hrtime
    return function() return hrtime() * 1e-9 end
  end
  return os.clock
end

--- Prints `RESULT workload=W impl=I k=v ...` (keys sorted, so the line is
--- stable); floats keep six significant digits.
function M.result(workload, impl, fields)
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = { "RESULT", "workload=" .. workload, "impl=" .. impl }
  for _, k in ipairs(keys) do
    local v = fields[k]
    if math.type(v) == "float" then v = ("%.6g"):format(v) end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  io.write(table.concat(parts, " "), "\n")
  io.flush()
end

return M
