-- Compressed responses: tide asks for gzip, deflate, br and zstd and hands
-- back the decoded body; `decompress = false` gets the bytes as sent (here
-- with our own Accept-Encoding, since then none is asked for). The local
-- service gzips /data/.
--
--   TIDE_DEMO_URL=... lua5.4 examples/http_decompress.lua   (scripts/local-api's URL)
local tide = require "tide"
local http = tide.http

local base = os.getenv("TIDE_DEMO_URL")
if not base then
  io.stderr:write("usage: TIDE_DEMO_URL=http://127.0.0.1:PORT lua5.4 examples/http_decompress.lua\n")
  os.exit(2)
end

tide.run(function()
  local url = base .. "/data/orders.json"
  local res = http.get(url):await()
  print(("decoded: %d bytes of JSON, %d orders"):format(#res.body, #res:json()))

  local raw = http.get(url, { decompress = false, headers = { ["Accept-Encoding"] = "gzip" } }):await()
  print(("as sent: %d bytes, Content-Encoding: %s, gzip magic: %s"):format(#raw.body,
    raw.headers["content-encoding"], raw.body:sub(1, 2) == "\31\139" and "yes" or "no"))
  print(("gzip saved %.0f%% of the transfer"):format(100 * (1 - #raw.body / #res.body)))
end)
