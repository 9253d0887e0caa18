-- A multipart/form-data upload: a text field and a file that libcurl reads
-- as it sends it (the file is never loaded into Lua), with progress.
--
--   TIDE_DEMO_URL=... lua5.4 examples/http_multipart.lua   (scripts/local-api's URL)
local tide = require "tide"

local base = os.getenv("TIDE_DEMO_URL")
if not base then
  io.stderr:write("usage: TIDE_DEMO_URL=http://127.0.0.1:PORT lua5.4 examples/http_multipart.lua\n")
  os.exit(2)
end

local path = os.tmpname()
local f = assert(io.open(path, "wb"))
f:write(("0123456789abcdef"):rep(65536)) -- 1 MiB
f:close()

tide.run(function()
  local reports, sent = 0, 0
  local res = tide.http.post(base .. "/api/upload", {
    multipart = {
      { name = "title", value = "report" },
      { name = "file", file = path, filename = "report.bin", content_type = "application/octet-stream" },
    },
    on_progress = function(_, _, ul_now)
      reports = reports + 1
      sent = ul_now
    end,
  }):await()
  os.remove(path)
  print(("uploaded: HTTP %d, the server read %d bytes, we sent %d"):format(res.status, res:json().bytes, sent))
  print(("progress reports: %d"):format(reports))
end)
