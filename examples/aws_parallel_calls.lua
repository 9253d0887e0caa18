-- Three DynamoDB calls at once, as the SDK's seed does with Promise.all:
-- the three writes are in flight together and tide.all gives their outputs
-- in order. Items go through aws.dynamodb.marshal / unmarshal.
--
--   AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4567 AWS_REGION=us-east-1 \
--   AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y lua5.4 examples/aws_parallel_calls.lua
local tide = require "tide"
local aws = require "tide.aws"

local db <close> = aws.dynamodb()
local TABLE = "tide-example-users"

tide.run(function()
  local ok, err = tide.pawait(db:create_table {
    TableName = TABLE, BillingMode = "PAY_PER_REQUEST",
    KeySchema = { { AttributeName = "id", KeyType = "HASH" } },
    AttributeDefinitions = { { AttributeName = "id", AttributeType = "N" } },
  })
  if not ok and err.code ~= "ResourceInUseException" then error(err, 0) end
  db:wait_until("table_exists", { TableName = TABLE }, { min_delay = 0.05, max_wait = 30 }):await()

  local users = { { id = 1, name = "Ada" }, { id = 2, name = "Grace" }, { id = 3, name = "Edsger" } }
  local t0 = tide.now()
  local puts = tide.all {
    db:put_item { TableName = TABLE, Item = aws.dynamodb.marshal(users[1]) },
    db:put_item { TableName = TABLE, Item = aws.dynamodb.marshal(users[2]) },
    db:put_item { TableName = TABLE, Item = aws.dynamodb.marshal(users[3]) },
  }:await()
  print(("3 puts together: %d %d %d in %d ms"):format(puts[1].metadata.status, puts[2].metadata.status,
    puts[3].metadata.status, (tide.now() - t0) * 1000 // 1))

  local gets = tide.all {
    db:get_item { TableName = TABLE, Key = aws.dynamodb.marshal { id = 1 } },
    db:get_item { TableName = TABLE, Key = aws.dynamodb.marshal { id = 2 } },
    db:get_item { TableName = TABLE, Key = aws.dynamodb.marshal { id = 3 } },
  }:await()
  local names = {}
  for i = 1, gets.n do
    local user = aws.dynamodb.unmarshal(gets[i].Item)
    names[i] = ("%s (id %d, %s)"):format(user.name, user.id, math.type(user.id))
  end
  print("read back: " .. table.concat(names, ", "))
end)
