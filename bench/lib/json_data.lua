--- The documents of W8, made the same way for every implementation: one
--- JSON text of about 1 MiB (an API-style array of records: integer ids,
--- strings with escapes and non-ASCII, floats, booleans, null, nested
--- objects and arrays) and a set of small documents (one record each) that
--- the programs cycle through. Deterministic: no randomness.
local M = {}

local names = { "Ada", "Grace", "Linus", "Barbara", "Ken", "Dennis", "Margaret", "Edsger", "Zoë", "Ñandú" }
local words = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa" }

-- One record as JSON text; i makes it unique.
local function record(i)
  local n = names[i % #names + 1]
  local tags = {}
  for j = 1, i % 4 + 1 do tags[j] = ('"%s"'):format(words[(i + j) % #words + 1]) end
  return ('{"id":%d,"account":%d,"name":"%s %d","email":"%s.%d@example.com","active":%s,' ..
    '"score":%.4f,"ratio":%s,"note":"line one\\nline \\"two\\"\\t\\u00e9","manager":null,' ..
    '"tags":[%s],"address":{"street":"%d Main St","city":"Springfield","zip":"%05d",' ..
    '"geo":{"lat":%.6f,"lng":%.6f}},"history":[%d,%d,%d]}'):format(
    i, 1000000000000 + i * 7919, n, i, n:lower(), i, i % 3 == 0 and "true" or "false",
    (i * 37 % 1000) / 7, (i % 5 == 0) and "1.5e-3" or "0.25", table.concat(tags, ","),
    i % 900 + 1, i % 99999, (i % 180) - 90 + 0.123456, (i % 360) - 180 + 0.654321,
    i, i * 2, i * 3)
end

--- About `bytes` of JSON: an array of records.
function M.big(bytes)
  local parts, size, i = {}, 2, 0
  while size < bytes do
    i = i + 1
    local r = record(i)
    parts[i] = r
    size = size + #r + 1
  end
  return "[" .. table.concat(parts, ",") .. "]", i
end

--- `count` small documents (one record each).
function M.small(count)
  local docs = {}
  for i = 1, count do docs[i] = record(i) end
  return docs
end

return M
