--- tide.aws: AWS service calls.
---
---     local aws = require "tide.aws"
---     local db = aws.dynamodb { region = "us-west-2" }
---     local ok, res = tide.pawait(db:list_tables {})
---     if ok then print(table.concat(res.TableNames, "\n")) else print(res) end
---
--- Clients: aws.s3, aws.dynamodb, aws.sqs, aws.sns, aws.sts, aws.lambda, aws.kinesis,
--- aws.secretsmanager, aws.ssm, aws.logs, and aws.client(service, {...})
--- for any other JSON or query service. Each call returns a promise of the
--- output table (with `metadata`); failures reject with `aws` errors.
-- @module tide.aws
local client = require "tide.aws.client"
local services = require "tide.aws.services"
local paginate = require "tide.aws.paginate"
local waiters = require "tide.aws.waiters"
local dynamodb = require "tide.aws.dynamodb"
local s3 = require "tide.aws.s3"

client.Client.paginate = paginate.paginate
client.Client.wait_until = waiters.wait_until

--- @class tide.aws
local aws = {}

-- The options every service's constructor takes.
local common = {}
for _, k in ipairs { "region", "endpoint", "credentials", "profile", "max_attempts", "timeout",
                     "connect_timeout", "http" } do
  common[k] = true
end

local function constructor(name)
  local fname = "tide.aws." .. name
  local service = services[name]
  --- `aws.<service>{region=, endpoint=, credentials=, profile=,
  --- max_attempts=, timeout=, connect_timeout=, http=}` -> a client.
  --- @param opts table|nil
  --- @return tide.aws.client
  return function(opts)
    if opts ~= nil and type(opts) == "table" then require("tide.check").options(opts, common, fname, 1, 2) end
    return client.new(service, opts, fname, 2)
  end
end

--- `aws.client(service, {protocol=, version=, target_prefix=,
--- signing_name=, region=, endpoint=, credentials=, ...})` -> a client of
--- any JSON (protocol "json1.0"/"json1.1") or query ("query") service, or
--- of a service tide.aws knows by name ("dynamodb").
--- @param service string
--- @param opts table|nil
--- @return tide.aws.client
function aws.client(service, opts)
  if type(service) ~= "string" or service == "" then
    error(("bad argument #1 to 'client' (service name expected, got %s)"):format(type(service)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'client' (options table expected, got %s)"):format(type(opts)), 2)
  end
  local svc = client.service(service, opts, 2)
  return client.new(svc, opts, "tide.aws.client", 2)
end

--- @type fun(opts: table|nil): tide.aws.client
aws.dynamodb = setmetatable({
  marshal = dynamodb.marshal,
  binary = dynamodb.binary,
  unmarshal = dynamodb.unmarshal,
}, { __call = function(_, opts) return constructor("dynamodb")(opts) end })

--- `aws.s3{region=, endpoint=, credentials=, profile=, max_attempts=,
--- timeout=, connect_timeout=, http=, force_path_style=}` -> an S3 client:
--- the S3 operations, and s3:upload, s3:download, s3:presign
--- (tide.aws.s3).
--- @param opts table|nil
--- @return tide.aws.s3
function aws.s3(opts)
  local known = { force_path_style = true }
  for k in pairs(common) do known[k] = true end
  if opts ~= nil and type(opts) == "table" then require("tide.check").options(opts, known, "tide.aws.s3", 1, 2) end
  return s3.wrap(client.new(s3.service, opts, "tide.aws.s3", 2), opts)
end

for _, name in ipairs { "sqs", "sns", "sts", "lambda", "kinesis", "secretsmanager", "ssm", "logs" } do
  aws[name] = constructor(name)
end

--- `aws.sign(request, credentials, {region=, service=, date=, presign=,
--- unsigned_payload=})` -> headers, or the presigned URL (tide.aws.sign).
aws.sign = require("tide.aws.sign").sign

return aws
