-- tide.aws against real servers on 127.0.0.1: dynalite for DynamoDB (calls,
-- errors, paginate, waiters, marshal, cancel), and the scripted responder
-- spec/support/aws_faults.py for the protocols' shapes.
local helper = require "spec.helper"
local tide = require "tide"
local aws = require "tide.aws"
local awsenv = require "spec.support.aws"

local json = tide.json

local function table_def(name)
  return {
    TableName = name, BillingMode = "PAY_PER_REQUEST",
    KeySchema = { { AttributeName = "id", KeyType = "HASH" } },
    AttributeDefinitions = { { AttributeName = "id", AttributeType = "N" } },
  }
end

describe("tide.aws with dynalite", function()
  local dyn
  setup(function() dyn = awsenv.dynalite() end)
  teardown(function() dyn.stop() end)
  helper.setup()

  local function client(opts)
    opts = opts or {}
    opts.region = opts.region or awsenv.REGION
    opts.endpoint = opts.endpoint or dyn.endpoint
    opts.credentials = opts.credentials or awsenv.CREDENTIALS
    -- Given, so that no profile is read for it.
    opts.max_attempts = opts.max_attempts or 3
    return aws.dynamodb(opts)
  end

  -- A fresh table, ACTIVE.
  local function make_table(db, name)
    db:create_table(table_def(name)):await()
    db:wait_until("table_exists", { TableName = name }, { min_delay = 0.02, max_delay = 0.1, max_wait = 10 }):await()
  end

  it("lists tables: the output table with its metadata", function()
    local db <close> = client()
    helper.run(function()
      local res = db:list_tables({}):await()
      assert.is_table(res.TableNames)
      assert.same(200, res.metadata.status)
      assert.same(1, res.metadata.attempts)
      assert.same(0, res.metadata.total_retry_delay)
      assert.is_string(res.metadata.request_id)
      -- send is the generic form
      local again = db:send("ListTables", {}):await()
      assert.same(res.TableNames, again.TableNames)
    end)
  end)

  it("tostring shows service, region and endpoint", function()
    local db <close> = client()
    assert.equal(("tide.aws.client (DynamoDB, us-east-1, %s)"):format(dyn.endpoint), tostring(db))
  end)

  it("puts and gets an item through marshal/unmarshal, integers kept", function()
    local db <close> = client()
    local name = helper.key("items"):gsub("[^%w]", "-")
    helper.run_slow(function()
      make_table(db, name)
      local item = { id = 7, name = "Ada", score = 1.5, big = 9007199254740993, tags = { "a", "b" },
                     nested = { ok = true, none = json.null }, empty = json.array({}) }
      db:put_item({ TableName = name, Item = aws.dynamodb.marshal(item) }):await()
      local got = db:get_item({ TableName = name, Key = aws.dynamodb.marshal({ id = 7 }) }):await()
      local back = aws.dynamodb.unmarshal(got.Item)
      assert.equal(7, back.id)
      assert.equal("integer", math.type(back.id))
      assert.equal(9007199254740993, back.big)
      assert.equal("integer", math.type(back.big))
      assert.equal(1.5, back.score)
      assert.equal("Ada", back.name)
      assert.same({ "a", "b" }, { back.tags[1], back.tags[2] })
      assert.is_true(back.nested.ok)
      assert.equal(json.null, back.nested.none)
      assert.equal("[]", json.encode(back.empty))
      db:delete_table({ TableName = name }):await()
    end, 20)
  end)

  it("B and BS values are Lua strings of bytes in params and outputs, base64 on the wire", function()
    local db <close> = client()
    local name = helper.key("binary"):gsub("[^%w]", "-")
    local bytes = "\0\1\2\255 binary\n" .. ("\200"):rep(40)
    helper.run_slow(function()
      make_table(db, name)
      local params = { TableName = name, Item = { id = { N = "1" }, data = { B = bytes },
                                                  set = { BS = { "a\0", "\255" } } } }
      db:put_item(params):await()
      assert.equal(bytes, params.Item.data.B) -- the caller's params are left as they were
      db:put_item({ TableName = name, Item = aws.dynamodb.marshal { id = 2, data = aws.dynamodb.binary("x\0y") } })
        :await()
      local got = db:get_item({ TableName = name, Key = { id = { N = "1" } } }):await()
      assert.equal(bytes, got.Item.data.B)
      local set = { table.unpack(got.Item.set.BS) }
      table.sort(set)
      assert.same({ "\255", "a\0" }, { set[2], set[1] })
      local back = aws.dynamodb.unmarshal(got.Item)
      assert.equal(bytes, back.data)
      got = db:get_item({ TableName = name, Key = aws.dynamodb.marshal { id = 2 } }):await()
      assert.equal("x\0y", aws.dynamodb.unmarshal(got.Item).data)
      -- A key of type B: the key condition's value is encoded too.
      local bname = name .. "-b"
      db:create_table({ TableName = bname, BillingMode = "PAY_PER_REQUEST",
                        KeySchema = { { AttributeName = "k", KeyType = "HASH" } },
                        AttributeDefinitions = { { AttributeName = "k", AttributeType = "B" } } }):await()
      db:wait_until("table_exists", { TableName = bname }, { min_delay = 0.02, max_delay = 0.1, max_wait = 10 })
        :await()
      db:put_item({ TableName = bname, Item = { k = { B = "\0key" }, v = { S = "found" } } }):await()
      local q = db:query({ TableName = bname, KeyConditionExpression = "k = :k",
                           ExpressionAttributeValues = { [":k"] = { B = "\0key" } } }):await()
      assert.equal(1, q.Count)
      assert.equal("\0key", q.Items[1].k.B)
      assert.equal("found", q.Items[1].v.S)
      db:delete_table({ TableName = bname }):await()
      db:delete_table({ TableName = name }):await()
    end, 30)
  end)

  it("three calls in tide.all run together", function()
    local db <close> = client()
    helper.run(function()
      local r = tide.all { db:list_tables({}), db:list_tables({ Limit = 1 }),
                           db:describe_endpoints({}):catch(function(e) return e end) }:await()
      assert.equal(3, r.n)
      assert.is_table(r[1].TableNames)
      assert.is_table(r[2].TableNames)
      assert.is_table(r[3])
    end)
  end)

  it("a missing table rejects with ResourceNotFoundException, not retried", function()
    local db <close> = client()
    helper.run(function()
      local err = helper.rejection(db:describe_table({ TableName = "no-such-table" }))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("ResourceNotFoundException", err.code)
      assert.equal(400, err.status)
      assert.equal("DynamoDB", err.service)
      assert.equal("DescribeTable", err.operation)
      assert.is_false(err.retryable)
      assert.is_false(err.throttling)
      assert.is_string(err.request_id)
      assert.equal(1, err.metadata.attempts)
      assert.matches("^aws: DynamoDB DescribeTable: ResourceNotFoundException: .* %(HTTP 400%)$", tostring(err))
    end)
  end)

  it("a ValidationException is never retried", function()
    local db <close> = client({ max_attempts = 5 })
    helper.run(function()
      local err = helper.rejection(db:describe_table({ TableName = "x" }))
      assert.equal("ValidationException", err.code)
      assert.is_false(err.retryable)
      assert.equal(1, err.metadata.attempts)
    end)
  end)

  it("paginates lazily: pages on demand, break stops, items flattens", function()
    local db <close> = client()
    local name = helper.key("pages"):gsub("[^%w]", "-")
    helper.run_slow(function()
      make_table(db, name)
      tide.map({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, function(i)
        return db:put_item({ TableName = name, Item = aws.dynamodb.marshal({ id = i }) }):await()
      end, { concurrency = 4 }):await()
      local pages, seen = 0, 0
      for page in db:paginate("scan", { TableName = name, Limit = 5 }) do
        pages = pages + 1
        seen = seen + #page.Items
      end
      assert.equal(12, seen)
      assert.is_true(pages >= 3)
      -- break after the first page: one request only
      local fetched = 0
      local s = db:paginate("Scan", { TableName = name, Limit = 5 })
      for page in s do -- luacheck: ignore 512 (leaves after one page on purpose)
        fetched = fetched + 1
        assert.equal(5, #page.Items)
        break
      end
      assert.equal(1, fetched)
      s:close()
      assert.is_nil(s:pull())
      local ids = {}
      for item in db:paginate("scan", { TableName = name, Limit = 4 }):items() do
        ids[#ids + 1] = aws.dynamodb.unmarshal(item).id
      end
      table.sort(ids)
      assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, ids)
      local names = db:paginate("list_tables", { Limit = 1 }):items():collect():await()
      assert.is_true(#names >= 1)
      db:delete_table({ TableName = name }):await()
    end, 30)
  end)

  it("waits until a table exists and until it is gone", function()
    local db <close> = client()
    local name = helper.key("wait"):gsub("[^%w]", "-")
    helper.run_slow(function()
      db:create_table(table_def(name)):await()
      local w = db:wait_until("table_exists", { TableName = name },
        { min_delay = 0.02, max_delay = 0.05, max_wait = 10 }):await()
      assert.equal("success", w.state)
      assert.equal("ACTIVE", w.response.Table.TableStatus)
      db:delete_table({ TableName = name }):await()
      local gone = db:wait_until("table_not_exists", { TableName = name },
        { min_delay = 0.02, max_delay = 0.05, max_wait = 10 }):await()
      assert.equal("success", gone.state)
    end, 20)
  end)

  it("wait_until rejects with a timeout error at max_wait", function()
    local db <close> = client()
    helper.run(function()
      local t0 = tide.now()
      local err = helper.rejection(db:wait_until("table_exists", { TableName = "never-made" },
        { min_delay = 0.05, max_delay = 0.05, max_wait = 0.3 }))
      assert.is_true(tide.is_error(err, "timeout"))
      assert.matches("wait_until table_exists: timed out after 0.3 s", err.message, 1, true)
      local took = tide.now() - t0
      assert.is_true(took >= 0.28 and took < 2 * helper.SLOW, "took " .. took)
    end)
  end)

  it("unknown waiters and options are usage errors", function()
    local db <close> = client()
    assert.matches("table_exists, table_not_exists",
      helper.raised(function() db:wait_until("bucket_exists", {}) end), 1, true)
    assert.matches("tide.aws.client:wait_until: unknown option 'max_wiat'",
      tostring(helper.raised(function() db:wait_until("table_exists", {}, { max_wiat = 1 }) end)), 1, true)
    assert.matches("tide.aws.client:list_tables: unknown option 'retries'",
      tostring(helper.raised(function() db:list_tables({}, { retries = 1 }) end)), 1, true)
    assert.matches("tide.aws.dynamodb: unknown option 'regoin'",
      tostring(helper.raised(function() aws.dynamodb { regoin = "x" } end)), 1, true)
  end)
end)

describe("tide.aws.dynamodb marshal", function()
  it("turns Lua values into attribute values and back", function()
    local item = aws.dynamodb.marshal { s = "x", i = 42, f = 0.1, t = true, n = json.null,
                                        l = { 1, "a" }, m = { k = "v" } }
    assert.same({ S = "x" }, item.s)
    assert.same({ N = "42" }, item.i)
    assert.same({ N = "0.1" }, item.f)
    assert.same({ BOOL = true }, item.t)
    assert.same({ NULL = true }, item.n)
    assert.same({ L = { { N = "1" }, { S = "a" } } }, item.l)
    assert.same({ M = { k = { S = "v" } } }, item.m)
    local back = aws.dynamodb.unmarshal(item)
    assert.equal(42, back.i)
    assert.equal("integer", math.type(back.i))
    assert.equal(0.1, back.f)
    assert.equal(json.null, back.n)
    assert.same({ N = "-9223372036854775808" }, aws.dynamodb.marshal { v = math.mininteger }.v)
    assert.equal(math.mininteger, aws.dynamodb.unmarshal({ v = { N = "-9223372036854775808" } }).v)
    assert.same({ 1, 2 }, { table.unpack(aws.dynamodb.unmarshal({ v = { NS = { "1", "2" } } }).v) })
  end)

  it("marshal makes B of aws.dynamodb.binary; unmarshal gives B and BS as strings", function()
    local b = aws.dynamodb.binary("\0\1")
    assert.matches("tide.aws.dynamodb.binary (2 bytes)", tostring(b), 1, true)
    assert.same({ B = "\0\1" }, aws.dynamodb.marshal({ v = b }).v)
    assert.same({ L = { { B = "x" } } }, aws.dynamodb.marshal({ v = { aws.dynamodb.binary("x") } }).v)
    assert.equal("\0\1", aws.dynamodb.unmarshal({ v = { B = "\0\1" } }).v)
    assert.same({ "a", "b" }, { table.unpack(aws.dynamodb.unmarshal({ v = { BS = { "a", "b" } } }).v) })
    assert.matches("bad argument #1 to 'binary' (string expected, got number)",
      helper.raised(aws.dynamodb.binary, 1), 1, true)
  end)

  it("refuses what DynamoDB cannot store", function()
    assert.matches("marshal: f: nan cannot be stored",
      tostring(helper.raised(aws.dynamodb.marshal, { f = 0 / 0 })):gsub("%-nan", "nan"), 1, true)
    assert.matches("a function cannot be stored",
      tostring(helper.raised(aws.dynamodb.marshal, { f = print })), 1, true)
    assert.matches("bad argument #1 to 'marshal' (table expected, got string)",
      helper.raised(aws.dynamodb.marshal, "x"), 1, true)
  end)
end)

describe("tide.aws clients", function()
  helper.setup()

  it("need a region and a URL endpoint", function()
    local err = helper.raised(aws.dynamodb, { region = "us-east-1", endpoint = "ftp://x",
                                              credentials = awsenv.CREDENTIALS })
    assert.matches("bad endpoint 'ftp://x'", tostring(err), 1, true)
  end)

  it("make snake_case methods from operation names", function()
    local db <close> = aws.dynamodb { region = "us-east-1", endpoint = "http://127.0.0.1:9",
                                      credentials = awsenv.CREDENTIALS, max_attempts = 3 }
    assert.equal(db.list_tables, db.list_tables)
    assert.is_nil(db.ListTables)
    assert.matches("bad argument #1 to 'send' %(operation name expected",
      helper.raised(function() db:send("list tables") end))
    assert.matches("bad argument #1 to 'list_tables' (params table expected, got string)",
      helper.raised(function() db:list_tables("x") end), 1, true)
  end)

  it("refuse calls once closed", function()
    local db = aws.dynamodb { region = "us-east-1", endpoint = "http://127.0.0.1:9", credentials = awsenv.CREDENTIALS,
                              max_attempts = 3 }
    db:close()
    db:close() -- closing twice is fine
    assert.matches("attempt to use a closed tide.aws.client (list_tables)",
      helper.raised(function() db:list_tables({}) end), 1, true)
    assert.equal("tide.aws.client (DynamoDB, us-east-1, http://127.0.0.1:9, closed)", tostring(db))
  end)

  it("aws.client reaches any json or query service", function()
    -- The AWS endpoint is the default when no setting names another: in a
    -- child process whose HOME and shared files are temporary (empty).
    local home = awsenv.HOME
    local out, status = helper.lua([[
      local aws = require "tide.aws"
      local c <close> = aws.client("kinesis", { protocol = "json1.1", target_prefix = "Kinesis_20131202",
        region = "eu-west-1", credentials = { access_key_id = "k", secret_access_key = "s" } })
      print(tostring(c))
    ]], nil, { HOME = home, AWS_CONFIG_FILE = home .. "/config", AWS_SHARED_CREDENTIALS_FILE = home .. "/credentials" })
    assert.equal(0, status, out)
    assert.equal("tide.aws.client (Kinesis, eu-west-1, https://kinesis.eu-west-1.amazonaws.com)\n", out)
    assert.matches("needs target_prefix", tostring(helper.raised(aws.client, "x", { region = "r" })), 1, true)
    assert.matches("unknown protocol 'soap'",
      tostring(helper.raised(aws.client, "x", { protocol = "soap", region = "r" })), 1, true)
  end)
end)
