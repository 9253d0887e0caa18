--- W7 for tide: N DynamoDB GetItem calls, INFLIGHT at a time, against a
--- local stub (nginx answering a fixed item to every POST).
---   lua5.4 bench/tide/w7_getitem.lua N WORKLOAD URL SIZE INFLIGHT [MODE]
--- MODE:
---   aws   (impl tide-aws)   `db:get_item{...}:await()` through tide.aws:
---                           SigV4 on every call, standard retries on
---   http  (impl tide-http)  plain `client:post(url, {body=, headers=})` of
---                           the same body and headers, unsigned: the floor
--- Every call must succeed with the item (SIZE is the stub's body length).
--- Wall and CPU time run from the first call to the last completion.
local tide = require "tide"
local bench = require "bench"

local n = bench.arg_int(1)
local workload = bench.arg_str(2)
local url = bench.arg_str(3)
local size = bench.arg_int(4)
local inflight = math.min(bench.arg_int(5), n)
local mode = bench.arg_str(6, "aws")
local impl = ({ aws = "tide-aws", http = "tide-http" })[mode] or error("mode: aws or http, got " .. mode)

local params = { TableName = "users", Key = { id = { N = "7" } } }
local ok = 0
local call

if mode == "aws" then
  local aws = require "tide.aws"
  local db = aws.dynamodb { region = "us-east-1", endpoint = url,
                            credentials = { access_key_id = "AKIDBENCH", secret_access_key = "bench-secret" } }
  call = function()
    local res = db:get_item(params):await()
    if res.Item and res.Item.id.N == "7" then ok = ok + 1 end
  end
else
  local client = tide.http.client()
  local body = tide.json.encode(params)
  local opts = { body = body, headers = { ["content-type"] = "application/x-amz-json-1.0",
                                          ["x-amz-target"] = "DynamoDB_20120810.GetItem" } }
  call = function()
    local res = client:post(url, opts):await()
    if res.status == 200 and #res.body == size and res:json().Item then ok = ok + 1 end
  end
end

local wall, cpu
tide.run(function()
  collectgarbage("collect")
  local t0, cpu0 = tide.now(), os.clock()
  local started = 0
  local function worker()
    while started < n do
      started = started + 1
      call()
    end
  end
  local tasks = {}
  for k = 1, inflight do tasks[k] = tide.spawn(worker) end
  tide.all(tasks):await()
  wall, cpu = tide.now() - t0, os.clock() - cpu0
end)

bench.result(workload, impl, {
  n = n,
  count = ok,
  bytes = ok * size, -- every counted call had the stub's SIZE-byte item
  wall_s = wall,
  cps = ok / wall,
  cpu_us = cpu * 1e6 / n,
})
