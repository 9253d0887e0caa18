-- Uploading a file: `body = {file = path}` (or an open tide.file) is read
-- by libcurl from the file descriptor, in C, and sent with the file's size
-- as its Content-Length: no Lua string holds it, and no chunked encoding.
--
--   lua5.4 examples/http_upload_file.lua URL        a URL that takes a POST
--   TIDE_DEMO_URL=... lua5.4 examples/http_upload_file.lua   uses /api/upload
--                                             of scripts/local-api's service
local tide = require "tide"

local url = arg[1] or (os.getenv("TIDE_DEMO_URL") and os.getenv("TIDE_DEMO_URL") .. "/api/upload")
if not url then
  io.stderr:write("usage: lua5.4 examples/http_upload_file.lua URL\n")
  os.exit(2)
end

tide.run(function()
  local path = os.tmpname()
  tide.fs.write(path, ("0123456789abcdef"):rep(65536)):await() -- 1 MiB
  -- From a path: opened for the request, closed when it settles.
  local sent = 0
  local res = tide.http.post(url, {
    body = { file = path },
    headers = { ["Content-Type"] = "application/octet-stream" },
    on_progress = function(_, _, up) sent = up end,
  }):await()
  print(("from a path: HTTP %d, %s, %d bytes sent"):format(res.status, res.body:gsub("%s+$", ""), sent))

  -- From an open file: what is left from its position, which stays put.
  local f <close> = tide.fs.open(path, "rb"):await()
  f:seek("set", 1048576 - 1000):await()
  res = tide.http.post(url, { body = f }):await()
  print(("from a tide.file at %d: HTTP %d, %s"):format(f:seek():await(), res.status, res.body:gsub("%s+$", "")))

  -- A file that is not there rejects with an `fs` error; nothing is sent.
  local ok, err = tide.pawait(tide.http.post(url, { body = { file = path .. ".missing" } }))
  print(("a missing file: ok=%s, %s error %s"):format(tostring(ok), err.kind, err.code))
  f:close():await()
  tide.fs.remove(path):await()
end)
