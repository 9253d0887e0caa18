-- A large file to S3 with s3:upload: multipart, 5 MiB parts, 3 in flight,
-- with a progress bar; then s3:download fetches it back in byte ranges in
-- parallel into one file, and the copy is compared.
--
--   S3_ENDPOINT=http://127.0.0.1:4568 S3_BUCKET=tide-test lua5.4 examples/s3_multipart_upload.lua
local tide = require "tide"
local aws = require "tide.aws"

local MiB = 1024 * 1024
local bucket = os.getenv("S3_BUCKET") or "tide-test"
local s3 <close> = aws.s3 { region = os.getenv("AWS_REGION") or "us-east-1", endpoint = os.getenv("S3_ENDPOINT") }

local dir = os.tmpname()
os.remove(dir)
tide.fs.mkdir(dir):await()
local src, copy = dir .. "/upload.bin", dir .. "/download.bin"

-- 16 MiB of numbered lines, written to a file.
do
  local lines = {}
  for i = 1, 16 * MiB // 16 do lines[i] = ("%015d\n"):format(i) end
  tide.fs.write(src, table.concat(lines)):await()
end

local function bar(label, done, total)
  local width = 30
  local filled = math.floor(width * done / total)
  io.write(("\r%s [%s%s] %3d%%"):format(label, ("#"):rep(filled), ("."):rep(width - filled),
    math.floor(100 * done / total)))
  io.flush()
end

local t0 = tide.now()
local up = s3:upload {
  Bucket = bucket, Key = "big/upload.bin", Body = { file = src }, ContentType = "application/octet-stream",
  part_size = 5 * MiB, concurrency = 3,
  on_progress = function(sent, total) bar("upload:  ", sent, total) end,
}:await()
print(("\nuploaded in %d parts, ETag %s, %.0f ms"):format(up.parts, up.ETag, (tide.now() - t0) * 1000))

t0 = tide.now()
local head = s3:download {
  Bucket = bucket, Key = "big/upload.bin", output = copy, part_size = 5 * MiB, concurrency = 3,
  on_progress = function(got, total) bar("download:", got, total) end,
}:await()
print(("\ndownloaded %d bytes in %.0f ms"):format(head.ContentLength, (tide.now() - t0) * 1000))

local same = tide.fs.read(src):await() == tide.fs.read(copy):await()
print("the copy is identical: " .. tostring(same))
tide.fs.remove(src):await()
tide.fs.remove(copy):await()
tide.fs.remove(dir):await()
