-- Storing and reading objects on an S3-compatible service with AWS
-- Signature V4 (libcurl signs each request): a PUT, a GET, a listing, all
-- through one client.
--
--   S3_ENDPOINT=http://127.0.0.1:4568 S3_BUCKET=tide-test lua5.4 examples/s3_objects.lua
-- The key and secret come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
-- (s3rver, a local S3 stand-in from npm, accepts S3RVER / S3RVER).
local tide = require "tide"

local endpoint = os.getenv("S3_ENDPOINT") or "http://127.0.0.1:4568"
local bucket = os.getenv("S3_BUCKET") or "tide-test"
local sigv4 = {
  region = os.getenv("AWS_REGION") or "us-east-1", service = "s3",
  key = os.getenv("AWS_ACCESS_KEY_ID") or "S3RVER", secret = os.getenv("AWS_SECRET_ACCESS_KEY") or "S3RVER",
}
local s3 <close> = tide.http.client { base_url = endpoint .. "/" .. bucket, timeout = 10 }

tide.run(function()
  -- Three objects in parallel.
  local names = { "reports/2026-01.csv", "reports/2026-02.csv", "readme.txt" }
  local puts = tide.map(names, function(name)
    return s3:put(name, { body = "contents of " .. name, aws_sigv4 = sigv4 }):await():raise_for_status().status
  end):await()
  print(("stored %d objects: %s"):format(puts.n, table.concat(puts, " ")))

  local res = s3:get("reports/2026-02.csv", { aws_sigv4 = sigv4 }):await():raise_for_status()
  print(("read back reports/2026-02.csv: %q"):format(res.body))

  local list = s3:get("", { query = { ["list-type"] = "2", prefix = "reports/" }, aws_sigv4 = sigv4 }):await()
  list:raise_for_status()
  local keys = {}
  for key in list.body:gmatch("<Key>([^<]+)</Key>") do keys[#keys + 1] = key end
  print(("listing of reports/: %s"):format(table.concat(keys, ", ")))
end)
