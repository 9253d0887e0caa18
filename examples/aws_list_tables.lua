-- The AWS SDK's "call a service asynchronously" seed with tide.aws:
--
--   const listTables = async () => (await dbClient.send(new ListTablesCommand({}))).TableNames
--
-- Credentials, region and endpoint come from the usual chain (here the
-- environment: AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB for a
-- local DynamoDB such as dynalite):
--
--   AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4567 AWS_REGION=us-east-1 \
--   AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y lua5.4 examples/aws_list_tables.lua
local tide = require "tide"
local aws = require "tide.aws"

local db <close> = aws.dynamodb()

-- An async function: each call runs as a task and returns its promise.
local list_tables = tide.async(function()
  local res = db:list_tables {}:await()
  return res.TableNames
end)

tide.run(function()
  local ok, names = tide.pawait(list_tables())
  if not ok then
    print("could not list tables: " .. tostring(names))
    return
  end
  print(("%d tables: %s"):format(#names, table.concat(names, ", ")))
  -- The generic form, and what every output carries.
  local res = db:send("ListTables", { Limit = 10 }):await()
  print(("status %d after %d attempt(s)"):format(res.metadata.status, res.metadata.attempts))
end)
