--- Dates as HTTP and AWS write them, read to and from Unix times (UTC,
--- whatever the machine's time zone). Private to tide: tide.http reads
--- Retry-After with it, tide.aws its Date headers and XML timestamps.
-- @module tide.date
local M = {}

local tonumber, type, floor = tonumber, type, math.floor

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
                 Nov = 11, Dec = 12 }

--- Seconds since the epoch of a UTC date and time (days from the civil
--- calendar: no os.time, which reads its fields in the local zone).
function M.utc(y, mo, d, h, mi, sec)
  y = mo <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return ((era * 146097 + doe - 719468) * 24 + h) * 3600 + mi * 60 + sec
end

--- An HTTP date as a Unix time, or nil: IMF-fixdate ("Sun, 06 Nov 1994
--- 08:49:37 GMT"), and the obsolete RFC 850 and asctime forms, which RFC
--- 9110 says a recipient accepts.
--- @param s string|nil
--- @return integer|nil
function M.parse_http(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, h, mi, sec = s:match("^%s*%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
  if not d then
    d, mon, y, h, mi, sec = s:match("^%s*%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
    if y then
      -- Two-digit years: RFC 9110 reads one more than 50 years ahead as past.
      y = tonumber(y) + 2000
      if y > tonumber(os.date("!%Y")) + 50 then y = y - 100 end
    end
  end
  if not d then
    mon, d, h, mi, sec, y = s:match("^%s*%a+ (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)%s*$")
  end
  if not (d and MONTHS[mon]) then return nil end
  return M.utc(tonumber(y), MONTHS[mon], tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
end

--- An ISO 8601 UTC time ("2026-12-02T03:34:05.000Z") as a Unix time (with
--- its fraction of a second), or nil.
--- @param s string|nil
--- @return number|nil
function M.parse_iso8601(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)Z$")
  if not y then return nil end
  local t = M.utc(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
  local f = tonumber("0" .. frac)
  if f and f > 0 then return t + f end
  return t
end

--- A Unix time as an IMF-fixdate.
--- @param t number
--- @return string
function M.format_http(t)
  return os.date("!%a, %d %b %Y %H:%M:%S GMT", floor(t))
end

return M
