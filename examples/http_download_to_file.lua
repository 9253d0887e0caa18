-- A download straight into a file, with a progress line: `output =` hands
-- the body to the file in C (libuv's thread pool writes it), so it never
-- becomes a Lua string and memory stays flat whatever the size. The
-- response then has no body: `res.bytes` says how much was written.
--
--   lua5.4 examples/http_download_to_file.lua URL [PATH]
--   TIDE_DEMO_URL=... lua5.4 examples/http_download_to_file.lua   uses /files/big.bin
--                                             of scripts/local-api's service
local tide = require "tide"

local url = arg[1] or (os.getenv("TIDE_DEMO_URL") and os.getenv("TIDE_DEMO_URL") .. "/files/big.bin")
if not url then
  io.stderr:write("usage: lua5.4 examples/http_download_to_file.lua URL [PATH]\n")
  os.exit(2)
end
local path = arg[2] or os.tmpname()

local function line(now, total)
  local pct = total > 0 and 100 * now / total or 0
  return ("%5.1f%%  %.1f of %.1f MiB"):format(pct, now / 1048576, total / 1048576)
end

tide.run(function()
  local t0 = tide.now()
  local res = tide.http.get(url, {
    output = path, -- created, or truncated; closed once the request settles
    on_progress = function(now, total)
      io.write("\r", line(now, total))
      io.flush()
    end,
  }):await()
  local ms = math.floor((tide.now() - t0) * 1000)
  print(("\r%s  done: HTTP %d, %d bytes written in %d ms"):format(line(res.bytes, res.bytes), res.status,
    res.bytes, ms))
  print(("on disk: %d bytes; res.body is %s"):format(tide.fs.stat(path):await().size, tostring(res.body)))
  -- A failure to write (a full disk) rejects with an `fs` error and stops
  -- the transfer; /dev/full is a disk that is always full.
  local ok, err = tide.pawait(tide.http.get(url, { output = "/dev/full" }))
  print(("to /dev/full: ok=%s, %s error %s"):format(tostring(ok), err.kind, err.code))
  if not arg[2] then tide.fs.remove(path):await() end
end)
