-- Temporary SigV4 signer in plain Lua (slow), standing in for
-- tide.aws.sign until the C signer is part of the tree. Same interface:
-- sign(request, credentials, {region=, service=, date=}) -> headers.
local band, bnot = function(a, b) return a & b end, function(a) return ~a end
local M = {}

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local M32 = 0xffffffff
local function rotr(x, n) return ((x >> n) | (x << (32 - n))) & M32 end

local function sha256(msg)
  local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local len = #msg
  msg = msg .. "\128" .. ("\0"):rep((55 - len) % 64) .. string.pack(">I8", len * 8)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do w[i] = string.unpack(">I4", msg, chunk + i * 4) end
    for i = 16, 63 do
      local s0 = rotr(w[i - 15], 7) ~ rotr(w[i - 15], 18) ~ (w[i - 15] >> 3)
      local s1 = rotr(w[i - 2], 17) ~ rotr(w[i - 2], 19) ~ (w[i - 2] >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M32
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local S1 = rotr(e, 6) ~ rotr(e, 11) ~ rotr(e, 25)
      local ch = band(e, f) ~ band(bnot(e) & M32, g)
      local t1 = (hh + S1 + ch + K[i + 1] + w[i]) & M32
      local S0 = rotr(a, 2) ~ rotr(a, 13) ~ rotr(a, 22)
      local maj = band(a, b) ~ band(a, c) ~ band(b, c)
      local t2 = (S0 + maj) & M32
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M32, c, b, a, (t1 + t2) & M32
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) & M32, (h[2] + b) & M32, (h[3] + c) & M32, (h[4] + d) & M32
    h[5], h[6], h[7], h[8] = (h[5] + e) & M32, (h[6] + f) & M32, (h[7] + g) & M32, (h[8] + hh) & M32
  end
  return string.pack(">I4I4I4I4I4I4I4I4", table.unpack(h))
end

local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end

local function hmac(key, msg)
  if #key > 64 then key = sha256(key) end
  key = key .. ("\0"):rep(64 - #key)
  local ipad = key:gsub(".", function(c) return string.char(c:byte() ~ 0x36) end)
  local opad = key:gsub(".", function(c) return string.char(c:byte() ~ 0x5c) end)
  return sha256(opad .. sha256(ipad .. msg))
end

function M.sign(req, creds, o)
  local headers = {}
  for k, v in pairs(req.headers or {}) do headers[k:lower()] = tostring(v) end
  local scheme_host, path, query = req.url:match("^(https?://[^/?]+)([^?]*)%??(.*)$")
  headers.host = scheme_host:match("//(.*)$")
  local amzdate = os.date("!%Y%m%dT%H%M%SZ", o.date or os.time())
  local day = amzdate:sub(1, 8)
  headers["x-amz-date"] = amzdate
  if creds.session_token then headers["x-amz-security-token"] = creds.session_token end
  local body_hash = hex(sha256(req.body or ""))
  local names = {}
  for k in pairs(headers) do names[#names + 1] = k end
  table.sort(names)
  local canon_headers = {}
  for i, k in ipairs(names) do canon_headers[i] = k .. ":" .. headers[k]:gsub("^%s+", ""):gsub("%s+$", "") end
  local q = {}
  for pair in query:gmatch("[^&]+") do q[#q + 1] = pair:find("=") and pair or pair .. "=" end
  table.sort(q)
  local signed = table.concat(names, ";")
  local creq = table.concat({ req.method, path == "" and "/" or path, table.concat(q, "&"),
    table.concat(canon_headers, "\n") .. "\n", signed, body_hash }, "\n")
  local scope = ("%s/%s/%s/aws4_request"):format(day, o.region, o.service)
  local sts = table.concat({ "AWS4-HMAC-SHA256", amzdate, scope, hex(sha256(creq)) }, "\n")
  local k = hmac(hmac(hmac(hmac("AWS4" .. creds.secret_access_key, day), o.region), o.service), "aws4_request")
  headers.authorization = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"):format(
    creds.access_key_id, scope, signed, hex(hmac(k, sts)))
  headers.host = nil
  return headers
end

return M
