-- The seed's promise style (`s3.putObject(params).promise().then(...).catch(...)`)
-- with tide.aws: every call is a promise, so next/catch/finally chain on it
-- without a task, and an AWS failure arrives as an `aws` error with its code.
--
--   AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4567 AWS_REGION=us-east-1 \
--   AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y lua5.4 examples/aws_promise_chain.lua
local tide = require "tide"
local aws = require "tide.aws"

local db <close> = aws.dynamodb()

local listed = db:list_tables {}
  :next(function(res) print(("listed %d table(s) (request %s)"):format(#res.TableNames, res.metadata.request_id)) end)
  :catch(function(err) print("list failed: " .. tostring(err)) end)

local missing = db:describe_table { TableName = "no-such-table" }
  :next(function(res) print("unexpected: " .. res.Table.TableName) end)
  :catch(function(err)
    print(("caught %s: %s (HTTP %d, retryable %s)"):format(err.code, err.operation, err.status,
      tostring(err.retryable)))
  end)
  :finally(function() print("finally: the describe is settled") end)

-- Top-level await: runs the loop until both chains have settled.
tide.all { listed, missing }:await()
