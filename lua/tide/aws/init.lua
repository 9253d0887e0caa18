--- tide.aws: AWS service calls (DESIGN.md, "AWS service calls (`tide.aws`)").
--- This file is the minimal public surface until the clients join it:
---   aws.sign(request, credentials, {region=, service=, date=, presign=,
---            unsigned_payload=}) -> headers, or the presigned URL
--- (see tide.aws.sign; tide.aws.credentials and tide.aws.config are the
--- credential and region chains the clients use).
-- @module tide.aws
local sign = require "tide.aws.sign"

local aws = {}

aws.sign = sign.sign

return aws
