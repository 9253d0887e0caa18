-- A download with a terminal progress bar: on_progress reports the bytes
-- received so far and the total (from Content-Length) as they arrive.
--
--   lua5.4 examples/http_progress.lua URL     (e.g. a large file)
--   TIDE_DEMO_URL=... lua5.4 examples/http_progress.lua   uses /files/big.bin
--                                             of scripts/local-api's service
local tide = require "tide"

local url = arg[1] or (os.getenv("TIDE_DEMO_URL") and os.getenv("TIDE_DEMO_URL") .. "/files/big.bin")
if not url then
  io.stderr:write("usage: lua5.4 examples/http_progress.lua URL\n")
  os.exit(2)
end

local width = 40
local function bar(now, total)
  local filled = total > 0 and math.floor(width * now / total) or 0
  return ("[%s%s] %6.1f / %.1f MiB"):format(("="):rep(filled), (" "):rep(width - filled),
    now / 1048576, total / 1048576)
end

local updates, shown = 0, nil
local res = tide.http.get(url, {
  on_progress = function(now, total)
    updates = updates + 1
    local text = bar(now, total)
    if text ~= shown then
      shown = text
      io.write("\r", text)
      io.flush()
    end
  end,
}):await()
print(("\r%s  done: HTTP %d, %d bytes, %d progress reports"):format(bar(#res.body, #res.body), res.status,
  #res.body, updates))
