--- W6 for tide: N transfers of a SIZE-byte file between a file and the
--- local nginx, one at a time, with no body in Lua.
---   lua5.4 bench/tide/w6_file.lua N WORKLOAD URL SIZE INFLIGHT MODE SRC
--- MODE:
---   download (impl tide-output)  `client:get(URL, {output = path})` into a
---                                temporary file (each checked: 200, SIZE bytes)
---   upload   (impl tide-body)    `client:put(<URL's host>/upload/tide.bin,
---                                {body = {file = SRC}})` (201 or 204; the
---                                stored file checked for SIZE bytes)
--- Wall and CPU time (os.clock: user + system of the process, all threads,
--- libuv's pool included) run from the first request to the last
--- completion; peak RSS is VmHWM over that stretch.
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1)
local workload = bench.arg_str(2)
local url = bench.arg_str(3)
local size = bench.arg_int(4)
local mode = bench.arg_str(6, "download")
local src = bench.arg_str(7)
local impl = ({ download = "tide-output", upload = "tide-body" })[mode] or error("mode: download or upload")
local out = os.tmpname()
local upload_url = url:match("^(https?://[^/]+)") .. "/upload/tide.bin"
local stored = src and src:gsub("[^/]+$", "") .. "upload/tide.bin"

local client = tide.http.client()
local ok, bytes = 0, 0
local wall, cpu, peak
tide.run(function()
  collectgarbage("collect")
  bench.reset_peak()
  local t0, cpu0 = tide.now(), os.clock()
  for _ = 1, n do
    if mode == "download" then
      local res = client:get(url, { output = out }):await()
      if res.status == 200 and res.bytes == size then ok = ok + 1 end
      bytes = bytes + res.bytes
    else
      local res = client:put(upload_url, { body = { file = src } }):await()
      local st = tide.fs.stat(stored):await()
      if (res.status == 201 or res.status == 204) and st.size == size then ok = ok + 1 end
      bytes = bytes + st.size
    end
  end
  wall, cpu = tide.now() - t0, os.clock() - cpu0
  peak = bench.proc_status("VmHWM")
end)
client:close()
os.remove(out)

bench.result(workload, impl, {
  n = n,
  count = ok,
  bytes = bytes,
  wall_s = wall,
  mibps = bytes / 1048576 / wall,
  cpu_ms = cpu * 1e3 / n,
  rss_mib = peak / 1048576,
})
