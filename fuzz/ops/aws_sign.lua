--- fuzz/ops/aws_sign.lua: tide.aws.sign (SigV4 in C) on junk: URLs, header tables, bodies, dates,
-- presign times and credentials made of arbitrary bytes. No I/O.

return function(fz)
  local op, call, P, rand, chance, choose = fz.op, fz.call, fz.P, fz.rand, fz.chance, fz.choose
  local sign = require("tide.aws.sign").sign

  local PIECES = { "a", "Z", "0", "%", "%2", "%zz", "%41", "/", "//", ".", "..", "?", "&", "=", "#", "@", ":",
    "[", "]", "+", " ", "\t", "\r\n", "\0", "\255", "é", "ሴ", "~" }
  local function junk(n)
    local t = {}
    for i = 1, rand(n + 1) - 1 do t[i] = choose(PIECES) end
    return table.concat(t)
  end
  local function url()
    return choose { "http://", "https://", "HTTPS://", "ftp://", "", "http:/" }
      .. choose { "h.example", "127.0.0.1:9", "[::1]:80", "u:p@h:443", "", junk(4) }
      .. choose { "", "/", "/" .. junk(12) } .. choose { "", "?", "?" .. junk(16) } .. choose { "", "#" .. junk(3) }
  end
  local function headers()
    if chance(0.2) then return chance(0.5) and P() or nil end
    local h = {}
    for _ = 1, rand(6) - 1 do
      h[choose { "Host", "x-amz-date", "X-Amz-Content-Sha256", "Authorization", "x-" .. junk(4), junk(3) }] =
        choose { junk(10), rand(1000), "UNSIGNED-PAYLOAD", true }
    end
    return h
  end

  op("tide.aws.sign", 3, function()
    local req = { method = choose { "GET", "post", junk(3) }, url = url(), headers = headers(),
      body = choose { "", junk(30), {} } }
    local creds = { access_key_id = choose { "AKID", junk(5) }, secret_access_key = junk(50),
      session_token = choose { "tok", "", junk(8) } }
    local opts = { region = choose { "us-east-1", junk(3), ("r"):rep(70) }, service = choose { "s3", "sts", junk(3) },
      date = choose { 1440938160, rand(2 ^ 31), -1, 1e300, 0 / 0 }, unsigned_payload = chance(0.2) or nil,
      presign = chance(0.3) and choose { 1, 900, 604800, 0, 1e9, 0.5 } or nil }
    call("tide.aws.sign", sign, chance(0.95) and req or P(), chance(0.95) and creds or P(),
      chance(0.95) and opts or P())
  end)
end
