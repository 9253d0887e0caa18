--- Base64 (RFC 4648, with padding) for the binary values AWS JSON carries
--- (DynamoDB's `B` and `BS`).
-- @module tide.aws.base64
local byte, char, concat, floor = string.byte, string.char, table.concat, math.floor

local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local enc, dec = {}, {}
for i = 1, 64 do
  local c = ALPHABET:sub(i, i)
  enc[i - 1] = c
  dec[byte(c)] = i - 1
end

--- The base64 text of the bytes of `s`.
--- @param s string
--- @return string
function M.encode(s)
  local out, n = {}, 0
  local len = #s
  for i = 1, len - 2, 3 do
    local a, b, c = byte(s, i, i + 2)
    local v = a * 65536 + b * 256 + c
    n = n + 1
    out[n] = enc[floor(v / 262144)] .. enc[floor(v / 4096) % 64] .. enc[floor(v / 64) % 64] .. enc[v % 64]
  end
  local rest = len % 3
  if rest == 1 then
    local v = byte(s, len) * 65536
    out[n + 1] = enc[floor(v / 262144)] .. enc[floor(v / 4096) % 64] .. "=="
  elseif rest == 2 then
    local a, b = byte(s, len - 1, len)
    local v = a * 65536 + b * 256
    out[n + 1] = enc[floor(v / 262144)] .. enc[floor(v / 4096) % 64] .. enc[floor(v / 64) % 64] .. "="
  end
  return concat(out)
end

--- The bytes of base64 text `s` (white space ignored); nil and a message
--- when it is not base64.
--- @param s string
--- @return string|nil
--- @return string|nil
function M.decode(s)
  if s:find("[%s]") then s = s:gsub("%s+", "") end
  local len = #s
  if len % 4 ~= 0 then return nil, "base64 text's length is not a multiple of 4" end
  local out, n = {}, 0
  for i = 1, len, 4 do
    local a, b, c, d = byte(s, i, i + 3)
    local va, vb = dec[a], dec[b]
    local vc, vd = dec[c], dec[d]
    local last = i + 3 == len
    if not (va and vb) or (not vc and not (last and c == 61 and d == 61))
      or (not vd and not (last and d == 61)) then
      return nil, "not base64 text"
    end
    local v = va * 262144 + vb * 4096 + (vc or 0) * 64 + (vd or 0)
    n = n + 1
    if not vc then
      out[n] = char(floor(v / 65536))
    elseif not vd then
      out[n] = char(floor(v / 65536), floor(v / 256) % 256)
    else
      out[n] = char(floor(v / 65536), floor(v / 256) % 256, v % 256)
    end
  end
  return concat(out)
end

return M
