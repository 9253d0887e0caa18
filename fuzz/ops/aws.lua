--- fuzz/ops/aws.lua: operations for tide.aws: DynamoDB marshal/unmarshal with
-- random values, and service calls (json, query, rest-json) with random
-- params and options against the local server (127.0.0.1 only), on clients
-- whose HTTP client the end of the run closes.

return function(fz)
  local tide = fz.tide
  local op, call, P, rand, chance, choose = fz.op, fz.call, fz.P, fz.rand, fz.chance, fz.choose
  local sig_opts, BASE = fz.sig_opts, fz.BASE
  local ok_aws, aws = pcall(require, "tide.aws")
  if not ok_aws then return end -- lua-expat missing: nothing to fuzz here

  local CREDS = { access_key_id = "AKIDFUZZ", secret_access_key = "fuzz" }
  local endpoint = (BASE or "http://127.0.0.1:1") .. "/api/fast"

  -- A few clients, each on an HTTP client the wind-down closes.
  local clients = {}
  local function client()
    if #clients < 4 and (#clients == 0 or chance(0.1)) then
      local http = tide.http.client { timeout = 2 }
      fz.all_clients[http] = true
      local svc = choose { "dynamodb", "sqs", "lambda", "kinesis", "sts" }
      clients[#clients + 1] = aws[svc] { region = "us-east-1", endpoint = endpoint, credentials = CREDS, http = http,
                                         max_attempts = rand(3),
                                         mfa_token = choose { nil, "123456", function() return "1" end } }
    end
    return choose(clients)
  end

  local function value(depth)
    depth = depth or 0
    local r = rand(10)
    if r <= 5 or depth > 3 then return P() end
    if r <= 7 then return { value(depth + 1), value(depth + 1) } end
    if r == 8 then return { a = value(depth + 1), [choose { "b", 1, true }] = value(depth + 1) } end
    if r == 9 then return tide.json.null end
    if r == 10 and chance(0.3) then return aws.dynamodb.binary(choose { "", "x\0y", "\255" }) end
    return choose { math.maxinteger, math.mininteger, 0.1, 1e300, 0 / 0, "", "x\0y" }
  end

  op("aws.dynamodb.marshal", 3, function()
    local t = chance(0.9) and { k = value(), n = value() } or value()
    local ok, item = call("aws.dynamodb.marshal", aws.dynamodb.marshal, t)
    if ok then call("aws.dynamodb.unmarshal", aws.dynamodb.unmarshal, item) end
  end)

  op("aws.dynamodb.unmarshal", 1, function()
    call("aws.dynamodb.unmarshal", aws.dynamodb.unmarshal,
      choose { { a = { S = "x" } }, { a = { N = "x" } }, { a = {} }, { a = 1 }, { a = { B = "\0" } },
               { a = { BS = { "x", "\0" } } }, value() })
  end)

  op("aws.dynamodb.binary", 1, function()
    call("aws.dynamodb.binary", aws.dynamodb.binary, choose { "", "x\0y", 1, nil, value() })
  end)

  local OPERATIONS = { "list_tables", "get_item", "describe_table", "invoke", "list_functions", "get_caller_identity",
                       "send_message", "list_streams", "Bad", "", "set_queue_attributes", "create_function",
                       "delete_function", "receive_message" }

  op("aws call", 3, function()
    local c = client()
    local name = choose(OPERATIONS)
    local params = chance(0.7) and { TableName = value(), FunctionName = choose { "f", value() }, Limit = value() }
      or value()
    local opts = chance(0.5) and sig_opts() or choose { nil, { timeout = choose { 0.01, 1, -1 } },
                                                        { max_attempts = choose { 1, 2, 0, 1.5 } } }
    if chance(0.2) then
      call("aws client:send", c.send, c, choose { "ListTables", "GetItem", name, P() }, params, opts)
    else
      local f = c[name]
      if f then call("aws client:" .. name, f, c, params, opts) end
    end
  end)

  op("aws paginate", 1, function()
    local c = client()
    local ok, pages = call("aws client:paginate", c.paginate, c, choose { "list_tables", "scan", P() }, value(),
      chance(0.5) and sig_opts() or nil)
    if ok and type(pages) == "table" and pages.close then pcall(pages.close, pages) end
  end)
end
