-- Processing a file line by line: write a temporary access log with
-- tide.fs.write, then stream it with `for line in tide.fs.lines(path)`
-- (read in chunks, so memory stays bounded however big the file is) and
-- aggregate requests per status and the mean latency. A `<close>`
-- variable removes the file at the end, even if the processing fails.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/file_lines.lua
-- or, after `luarocks make`: lua5.4 examples/file_lines.lua
local tide = require "tide"

local path = os.tmpname()
local statuses = { 200, 200, 200, 404, 200, 500, 200, 301 }

tide.run(function()
  local _ <close> = setmetatable({}, { __close = function()
    tide.fs.remove(path):await()
    print("removed the file; exists: " .. tostring(tide.fs.exists(path):await()))
  end })

  -- A deterministic log of 10,000 requests: "GET /items/17 200 23ms".
  local lines = {}
  for i = 1, 10000 do
    lines[i] = ("%s /items/%d %d %dms"):format(i % 5 == 0 and "POST" or "GET", i % 97,
                                             statuses[i % #statuses + 1], 5 + (i * 7) % 50)
  end
  tide.fs.write(path, table.concat(lines, "\n") .. "\n"):await()
  print(("wrote %d lines, %d bytes"):format(#lines, tide.fs.stat(path):await().size))

  local t0 = tide.now()
  local count, total_ms, by_status = 0, 0, {}
  for line in tide.fs.lines(path) do
    local status, latency = line:match("^%u+ %S+ (%d+) (%d+)ms$")
    count = count + 1
    total_ms = total_ms + tonumber(latency)
    by_status[status] = (by_status[status] or 0) + 1
  end
  print(("read %d lines in %.0f ms; mean latency %.1f ms"):format(count, (tide.now() - t0) * 1000, total_ms / count))
  for _, status in ipairs { "200", "301", "404", "500" } do
    print(("  status %s: %5d requests"):format(status, by_status[status]))
  end
end)
