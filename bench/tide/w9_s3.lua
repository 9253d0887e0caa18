--- W9 for tide: N times, s3:upload of a SIZE-byte file then s3:download of
--- it back, through the S3 emulator that bench/run starts (BENCH_S3).
---   lua5.4 bench/tide/w9_s3.lua N SIZE
--- The source is bench/out/s3/SIZE.bin (bench/run makes it); the copy goes
--- to bench/out/s3/down-tide.bin and must have SIZE bytes. Defaults of
--- s3:upload/s3:download: 8 MiB parts, 4 at a time. Each direction is timed
--- on its own (wall: tide.now; CPU: os.clock, the whole process).
local tide = require "tide"
local aws = require "tide.aws"
local bench = require "bench"

local n = bench.arg_int(1)
local size = bench.arg_int(2)
local endpoint = os.getenv("BENCH_S3") or error("BENCH_S3 is unset: run it through bench/run")
local src = ("bench/out/s3/%d.bin"):format(size)
local dst = "bench/out/s3/down-tide.bin"
local MiB = 1024 * 1024

local s3 = aws.s3 { region = "us-east-1", endpoint = endpoint,
                    credentials = { access_key_id = "S3RVER", secret_access_key = "S3RVER" } }
local up_s, down_s, up_cpu, down_cpu, count, bytes = 0, 0, 0, 0, 0, 0
tide.run(function()
  for _ = 1, n do
    collectgarbage("collect")
    local t0, c0 = tide.now(), os.clock()
    s3:upload({ Bucket = "bench", Key = "tide.bin", Body = { file = src } }):await()
    up_s, up_cpu = up_s + tide.now() - t0, up_cpu + os.clock() - c0
    collectgarbage("collect")
    t0, c0 = tide.now(), os.clock()
    local head = s3:download({ Bucket = "bench", Key = "tide.bin", output = dst }):await()
    down_s, down_cpu = down_s + tide.now() - t0, down_cpu + os.clock() - c0
    local got = tide.fs.stat(dst):await().size
    if head.ContentLength == size and got == size then
      count = count + 1
      bytes = bytes + got
    end
  end
end)
s3:close()
os.remove(dst)
bench.result("W9", "tide", { n = n, count = count, bytes = bytes,
  up_mibps = n * size / MiB / up_s, down_mibps = n * size / MiB / down_s,
  up_cpu_s = up_cpu / n, down_cpu_s = down_cpu / n })
