-- S3 objects with tide.aws, as the seeds' JavaScript examples do them: a
-- put_object with await, one with next/catch, an object piped to a file,
-- and a listing page by page.
--
--   S3_ENDPOINT=http://127.0.0.1:4568 S3_BUCKET=tide-test lua5.4 examples/s3_objects.lua
-- Credentials come from the usual chain (AWS_ACCESS_KEY_ID /
-- AWS_SECRET_ACCESS_KEY, ~/.aws, ...); s3rver, a local S3 stand-in from
-- npm, accepts S3RVER / S3RVER. Without S3_ENDPOINT this talks to AWS.
local tide = require "tide"
local aws = require "tide.aws"

local bucket = os.getenv("S3_BUCKET") or "tide-test"
local s3 <close> = aws.s3 { region = os.getenv("AWS_REGION") or "us-east-1", endpoint = os.getenv("S3_ENDPOINT") }

-- async/await: the call waits in place.
s3:put_object { Bucket = bucket, Key = "example2.txt",
                Body = "Uploaded text using the async/await method!" }:await()
print("await: stored example2.txt")

-- Promises: next/catch, then wait for the chain once.
s3:put_object { Bucket = bucket, Key = "example1.txt", Body = "Uploaded text using the promise-based method!" }
  :next(function(res) print(("promise: stored example1.txt, ETag %s"):format(res.ETag)) end)
  :catch(function(err) print("promise: failed: " .. tostring(err)) end)
  :await()

-- An object as a stream, piped to a file: never held whole in memory.
local obj = s3:get_object { Bucket = bucket, Key = "example1.txt", stream = true }:await()
local path = os.tmpname()
local bytes = tide.pipe(obj.Body, path):await()
print(("piped example1.txt to a file: %d bytes, %q"):format(bytes, tide.fs.read(path):await()))
os.remove(path)

-- A few more objects, then a listing, page after page (2 keys a page).
tide.all {
  s3:put_object { Bucket = bucket, Key = "reports/2026-01.csv", Body = "a,b\n1,2\n" },
  s3:put_object { Bucket = bucket, Key = "reports/2026-02.csv", Body = "a,b\n3,4\n" },
  s3:put_object { Bucket = bucket, Key = "reports/2026-03.csv", Body = "a,b\n5,6\n" },
}:await()
local keys = {}
for o in s3:paginate("list_objects_v2", { Bucket = bucket, Prefix = "reports/", MaxKeys = 2 }):items("Contents") do
  keys[#keys + 1] = ("%s (%d bytes)"):format(o.Key, o.Size)
end
print("listing of reports/: " .. table.concat(keys, ", "))

-- A missing key is an `aws` error with S3's code.
local ok, err = tide.pawait(s3:get_object { Bucket = bucket, Key = "no/such/key" })
print(("missing key: ok=%s, %s (HTTP %d)"):format(ok, err.code, err.status))
