-- tide.aws's standard retry mode, clock-skew correction, per-call options
-- and cancellation, on the scripted responder spec/support/aws_faults.py
-- (127.0.0.1): each test names its own key so hit counts stay apart.
local helper = require "spec.helper"
local tide = require "tide"
local aws = require "tide.aws"
local awsenv = require "spec.support.aws"
local retry = require "tide.aws.retry"

describe("tide.aws retries", function()
  local flt
  setup(function() flt = awsenv.faults() end)
  teardown(function() flt.stop() end)
  helper.setup()

  -- A DynamoDB client whose endpoint is a scenario of the responder.
  local function client(path, opts)
    opts = opts or {}
    opts.region, opts.credentials = awsenv.REGION, awsenv.CREDENTIALS
    opts.endpoint = flt.url .. "/" .. path
    opts.max_attempts = opts.max_attempts or 3 -- given: no profile is read for it
    return aws.dynamodb(opts)
  end
  local function key(name) return (helper.key(name):gsub("[^%w]", "-")) end

  it("retries 503s and succeeds, with attempts and delays in metadata", function()
    local db <close> = client(("fail/%s/2/503/-"):format(key("503")))
    helper.run(function()
      local res = db:list_tables({}):await()
      assert.equal(3, res.hits)
      assert.equal(3, res.metadata.attempts)
      assert.is_true(res.metadata.total_retry_delay >= 0)
      assert.is_true(res.metadata.total_retry_delay <= 0.1 + 0.2)
    end)
  end)

  it("gives up after max_attempts with the last error", function()
    local db <close> = client(("fail/%s/9/500/InternalServerError"):format(key("500")))
    helper.run(function()
      local err = helper.rejection(db:list_tables({}))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("InternalServerError", err.code)
      assert.equal(500, err.status)
      assert.is_true(err.retryable)
      assert.equal(3, err.metadata.attempts)
    end)
  end)

  it("max_attempts per call and per client", function()
    local k = key("max")
    local db <close> = client(("fail/%s/9/503/-"):format(k), { max_attempts = 2 })
    helper.run(function()
      assert.equal(2, helper.rejection(db:list_tables({})).metadata.attempts)
      assert.equal(1, helper.rejection(db:list_tables({}, { max_attempts = 1 })).metadata.attempts)
      assert.equal(4, helper.rejection(db:list_tables({}, { max_attempts = 4 })).metadata.attempts)
    end)
  end)

  it("retries throttling errors and marks them", function()
    local db <close> = client(("fail/%s/1/400/ThrottlingException"):format(key("throttle")))
    helper.run(function()
      local res = db:list_tables({}):await()
      assert.equal(2, res.metadata.attempts)
      assert.is_true(res.metadata.total_retry_delay <= 0.5)
    end)
    local once <close> = client(("fail/%s/1/400/ProvisionedThroughputExceededException"):format(key("pte")))
    helper.run(function()
      local err = helper.rejection(once:list_tables({}, { max_attempts = 1 }))
      assert.is_true(err.throttling)
      assert.is_true(err.retryable)
    end)
  end)

  it("never retries a ValidationException, nor a client error", function()
    local db <close> = client(("fail/%s/9/400/ValidationException"):format(key("validation")))
    local nf <close> = client(("fail/%s/9/400/ResourceNotFoundException"):format(key("nf")))
    helper.run(function()
      local err = helper.rejection(db:list_tables({}, { max_attempts = 5 }))
      assert.equal("ValidationException", err.code)
      assert.is_false(err.retryable)
      assert.equal(1, err.metadata.attempts)
      assert.equal(1, helper.rejection(nf:list_tables({})).metadata.attempts)
    end)
  end)

  it("honours Retry-After in seconds and x-amz-retry-after in milliseconds", function()
    local a <close> = client(("retry-after/%s/1/1"):format(key("ra")))
    local b <close> = client(("amz-retry-after/%s/1/300"):format(key("amzra")))
    helper.run(function()
      local t0 = tide.now()
      local res = a:list_tables({}):await()
      assert.equal(1, res.metadata.total_retry_delay)
      assert.is_true(tide.now() - t0 >= 0.95)
      local res2 = b:list_tables({}):await()
      assert.equal(0.3, res2.metadata.total_retry_delay)
    end)
  end)

  it("full jitter under the cap, and server hints capped at 20 s", function()
    for attempt = 1, 12 do
      for _ = 1, 50 do
        local d = retry.delay({}, attempt)
        assert.is_true(d >= 0 and d <= math.min(20, 0.1 * 2 ^ (attempt - 1)))
      end
    end
    assert.equal(20, retry.delay({}, 1, { ["retry-after"] = "3600" }))
    assert.equal(2, retry.hint({ ["retry-after"] = "2" }))
    assert.equal(0.25, retry.hint({ ["x-amz-retry-after"] = "250" }))
    local soon = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 5)
    local h = retry.hint({ ["retry-after"] = soon })
    assert.is_true(h >= 3 and h <= 6, tostring(h))
  end)

  it("the retry quota: 5 a retry, 10 after a timeout, 1 back on success, none when empty", function()
    local q = retry.quota()
    assert.equal(500, q.tokens)
    assert.equal(5, q:acquire({}))
    assert.equal(10, q:acquire({ timeout = true }))
    assert.equal(485, q.tokens)
    q:release(5)
    assert.equal(490, q.tokens)
    q:release()
    assert.equal(491, q.tokens)
    for _ = 1, 98 do q:acquire({}) end
    assert.equal(1, q.tokens)
    assert.is_nil(q:acquire({}))
    q.tokens = 499
    q:release()
    q:release()
    assert.equal(500, q.tokens)
  end)

  it("stops retrying when the client's quota is spent", function()
    local db <close> = client(("fail/%s/99/503/-"):format(key("quota")), { max_attempts = 3 })
    db._quota.tokens = 7
    helper.run(function()
      local err = helper.rejection(db:list_tables({}))
      assert.equal(2, err.metadata.attempts)
      assert.is_true(err.quota_exhausted)
    end)
  end)

  it("corrects the clock from the server's Date on RequestTimeTooSkewed and retries", function()
    local db <close> = client(("skew/%s/3600"):format(key("skew")))
    helper.run(function()
      local res = db:list_tables({}):await()
      assert.equal(2, res.metadata.attempts)
      assert.equal(0, res.metadata.total_retry_delay)
      -- the next call is signed with the corrected clock at once
      assert.equal(1, db:list_tables({}):await().metadata.attempts)
    end)
  end)

  it("a network failure is the cause of an aws error", function()
    local port = require("spec.support.servers").closed_port()
    local db <close> = aws.dynamodb { region = "us-east-1", credentials = awsenv.CREDENTIALS,
                                      endpoint = "http://127.0.0.1:" .. port, max_attempts = 2 }
    helper.run(function()
      local err = helper.rejection(db:list_tables({}))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("NetworkingError", err.code)
      assert.is_true(tide.is_error(err.cause, "network"))
      assert.equal(2, err.metadata.attempts)
      assert.matches("caused by: network:", tostring(err), 1, true)
    end)
  end)

  it("timeout per call: each attempt is cut, and retried", function()
    local db <close> = client(("slow/%s/2000"):format(key("slow")))
    helper.run(function()
      local t0 = tide.now()
      local err = helper.rejection(db:list_tables({}, { timeout = 0.1, max_attempts = 2 }))
      assert.equal("RequestTimeout", err.code)
      assert.is_true(tide.is_error(err.cause, "timeout"))
      assert.equal(2, err.metadata.attempts)
      assert.is_true(tide.now() - t0 < 1.5)
    end)
  end)

  it("paginate fetches only the pages asked for", function()
    local k = key("pages")
    local db <close> = client("pages/" .. k)
    helper.run(function()
      local seen = {}
      for page in db:paginate("list_streams", { Limit = 1 }) do
        seen[#seen + 1] = page.hits
        if #seen == 2 then break end
      end
      assert.same({ 1, 2 }, seen)
      -- nothing was read ahead: the next call is the third
      assert.equal(3, db:send("ListStreams", {}):await().hits)
      local items = db:paginate("list_streams", {}, { items = "Items" }):items():take(3):collect():await()
      assert.same({ 4, 5, 6 }, { items[1], items[2], items[3] })
      assert.equal(7, db:send("ListStreams", {}):await().hits)
    end)
  end)

  it("p:cancel() and signal= stop a call in flight", function()
    local db <close> = client(("slow/%s/3000"):format(key("cancel")))
    helper.run(function()
      local p = db:list_tables({})
      tide.sleep(0.05):await()
      p:cancel()
      assert.is_true(tide.is_error(helper.rejection(p), "cancelled"))
      local ctl = tide.abort_controller()
      local q = db:list_tables({}, { signal = ctl.signal })
      tide.set_timeout(function() ctl:abort("stop") end, 0.05)
      local t0 = tide.now()
      assert.equal("stop", helper.rejection(q))
      assert.is_true(tide.now() - t0 < 1)
      assert.equal("stop", helper.rejection(db:list_tables({}, { signal = ctl.signal })))
    end)
  end)
end)

describe("tide.aws protocols on the wire", function()
  local flt
  setup(function() flt = awsenv.faults() end)
  teardown(function() flt.stop() end)
  helper.setup()

  it("json: X-Amz-Target, the content type and a signed request", function()
    local k <close> = aws.kinesis { region = "eu-west-1", credentials = awsenv.CREDENTIALS,
                                    endpoint = flt.url .. "/echo/json", max_attempts = 1 }
    helper.run(function()
      local r = k:list_streams({ Limit = 5 }):await()
      assert.equal("POST", r.method)
      assert.equal("Kinesis_20131202.ListStreams", r.headers["x-amz-target"])
      assert.equal("application/x-amz-json-1.1", r.headers["content-type"])
      assert.same({ Limit = 5 }, tide.json.decode(r.body))
      assert.matches("^AWS4%-HMAC%-SHA256 Credential=AKIDTIDETEST/%d+/eu%-west%-1/kinesis/aws4_request",
        r.headers.authorization)
    end)
  end)

  it("query: Action, Version and flattened params; XML errors decoded", function()
    local sns <close> = aws.sns { region = "us-east-1", credentials = awsenv.CREDENTIALS,
                                  endpoint = flt.url .. "/query-error/q", max_attempts = 1 }
    helper.run(function()
      local err = helper.rejection(sns:publish({ TopicArn = "arn:x", Message = "a b+c" }))
      assert.equal("InvalidParameterValue", err.code)
      assert.equal("bad value", err.message:match("bad value"))
      assert.equal("rid-42", err.request_id)
      assert.equal("SNS", err.service)
      assert.equal("Publish", err.operation)
    end)
    local protocols = require "tide.aws.protocols"
    local services = require "tide.aws.services"
    assert.equal("Action=SetTopicAttributes&Version=2010-03-31&Tags.member.1.Key=k&Tags.member.2.Key=j"
      .. "&TopicArn=arn%3Ax&Value=a+b%2Bc",
      protocols.query_body(services.sns, "SetTopicAttributes",
        { TopicArn = "arn:x", Value = "a b+c", Tags = { { Key = "k" }, { Key = "j" } } }))
    -- The API reference's member names, the wire's names from the model
    -- (flattened lists under their member's name, flattened maps).
    assert.equal("Action=DeleteMessageBatch&Version=2012-11-05&DeleteMessageBatchRequestEntry.1.Id=a",
      protocols.query_body(services.sqs, "DeleteMessageBatch", { Entries = { { Id = "a" } } }))
    assert.equal("Action=SetQueueAttributes&Version=2012-11-05&Attribute.1.Name=DelaySeconds"
      .. "&Attribute.1.Value=5&Attribute.2.Name=VisibilityTimeout&Attribute.2.Value=30&QueueUrl=u",
      protocols.query_body(services.sqs, "SetQueueAttributes",
        { QueueUrl = "u", Attributes = { VisibilityTimeout = "30", DelaySeconds = "5" } }))
    assert.equal("Action=GetQueueAttributes&Version=2012-11-05&AttributeName.1=All&QueueUrl=u",
      protocols.query_body(services.sqs, "GetQueueAttributes", { QueueUrl = "u", AttributeNames = { "All" } }))
    assert.equal("Action=SendMessage&Version=2012-11-05&MessageAttribute.1.Name=bin"
      .. "&MessageAttribute.1.Value.BinaryValue=AP8%3D&MessageAttribute.1.Value.DataType=Binary"
      .. "&MessageAttribute.1.Value.StringValue=x&MessageBody=m&QueueUrl=u",
      protocols.query_body(services.sqs, "SendMessage", { QueueUrl = "u", MessageBody = "m",
        MessageAttributes = { bin = { DataType = "Binary", BinaryValue = "\0\255", StringValue = "x" } } }))
    assert.equal("Action=SetTopicAttributes&Version=2010-03-31&AttributeName=Policy&AttributeValue=p&TopicArn=t",
      protocols.query_body(services.sns, "SetTopicAttributes",
        { TopicArn = "t", AttributeName = "Policy", AttributeValue = "p" }))
    assert.equal("Action=CreateTopic&Version=2010-03-31&Attributes.entry.1.key=DisplayName"
      .. "&Attributes.entry.1.value=d&Name=n&Tags.member.1.Key=k&Tags.member.1.Value=v",
      protocols.query_body(services.sns, "CreateTopic",
        { Name = "n", Attributes = { DisplayName = "d" }, Tags = { { Key = "k", Value = "v" } } }))
  end)

  it("query: a table inside itself, or nested too deep, is a usage error at once", function()
    local protocols = require "tide.aws.protocols"
    local services = require "tide.aws.services"
    local list = {}
    list[1] = list
    local map = {}
    map.a = map
    local deep = {}
    local x = deep
    for _ = 1, 100 do
      x.a = {}
      x = x.a
    end
    local shared = { k = "v" }
    for _, case in ipairs { { { Entry = list }, "Entry.1: a table inside itself" },
                            { map, "a: a table inside itself" },
                            { deep, "nested deeper than 32 levels" } } do
      local t0 = os.clock()
      local err = helper.raised(protocols.query_body, services.sqs, "SendMessage", case[1])
      assert.is_true(tide.is_error(err, "usage"))
      assert.matches(case[2], err.message, 1, true)
      assert.is_true(os.clock() - t0 < 0.5)
    end
    -- the same table twice is no cycle
    assert.equal("Action=SendMessage&Version=2012-11-05&a.k=v&b.k=v",
      protocols.query_body(services.sqs, "SendMessage", { a = shared, b = shared }))
  end)

  it("query XML answers: member lists unwrapped, entry maps, flattened lists", function()
    local xml = require "tide.aws.xml"
    local v = xml.value(xml.parse([[<R><Topics><member><TopicArn>a</TopicArn></member>
      <member><TopicArn>b</TopicArn></member></Topics><Attributes><entry><key>k</key><value>v</value></entry>
      </Attributes><Empty/></R>]]))
    assert.same({ "a", "b" }, { v.Topics[1].TopicArn, v.Topics[2].TopicArn })
    assert.same({ k = "v" }, v.Attributes)
    assert.equal("", v.Empty)
    local one = xml.value(xml.parse("<R><QueueUrl>u</QueueUrl></R>"), { QueueUrl = true })
    assert.same({ "u" }, { table.unpack(one.QueueUrl) })
    assert.matches("malformed XML", tostring(helper.raised(xml.parse, "<a><b></a>")), 1, true)
  end)

  it("rest-json: Lambda Invoke and ListFunctions", function()
    local lambda <close> = aws.lambda { region = "us-east-1", credentials = awsenv.CREDENTIALS,
                                        endpoint = flt.url .. "/echo/lambda", max_attempts = 1 }
    helper.run(function()
      local r = lambda:invoke({ FunctionName = "my fn", Payload = { x = 1 }, InvocationType = "Event",
                                Qualifier = "v1" }):await()
      assert.equal(200, r.StatusCode)
      local seen = tide.json.decode(r.Payload)
      assert.equal("/echo/lambda/2015-03-31/functions/my%20fn/invocations", seen.path)
      assert.equal("Qualifier=v1", seen.query)
      assert.equal("Event", seen.headers["x-amz-invocation-type"])
      assert.same({ x = 1 }, tide.json.decode(seen.body))
      local l = lambda:list_functions({ MaxItems = 10 }):await()
      assert.equal("GET", l.method)
      assert.equal("/echo/lambda/2015-03-31/functions/", l.path)
      assert.equal("MaxItems=10", l.query)
      -- Every operation of the model: URI, query and header members bound,
      -- the rest a JSON body with blobs in base64.
      local c = lambda:create_function({ FunctionName = "f", Runtime = "python3.11", Role = "arn:r",
                                         Handler = "h.main", Code = { ZipFile = "PK\3\4\0" } }):await()
      assert.equal("POST", c.method)
      assert.equal("/echo/lambda/2015-03-31/functions", c.path)
      local sent = tide.json.decode(c.body)
      assert.equal("UEsDBAA=", sent.Code.ZipFile)
      assert.equal("f", sent.FunctionName)
      local u = lambda:update_function_code({ FunctionName = "f", ZipFile = "z" }):await()
      assert.equal("PUT", u.method)
      assert.equal("/echo/lambda/2015-03-31/functions/f/code", u.path)
      assert.same({ ZipFile = "eg==" }, tide.json.decode(u.body))
      local v = lambda:list_versions_by_function({ FunctionName = "f", MaxItems = 2 }):await()
      assert.equal("/echo/lambda/2015-03-31/functions/f/versions", v.path)
      assert.equal("MaxItems=2", v.query)
      local d = lambda:delete_function({ FunctionName = "f", Qualifier = "3" }):await()
      assert.equal("DELETE", d.method)
      assert.equal("Qualifier=3", d.query)
      local a = lambda:invoke_async({ FunctionName = "f", InvokeArgs = "{}" }):await()
      assert.equal(200, a.Status)
      local conf = lambda:update_function_configuration({ FunctionName = "f", Timeout = 9 }):await()
      assert.equal("/echo/lambda/2015-03-31/functions/f/configuration", conf.path)
      assert.same({ Timeout = 9 }, tide.json.decode(conf.body))
      assert.matches("not supported",
        tostring(helper.raised(function() lambda:send("NoSuchOperation", {}) end)), 1, true)
      assert.matches("DeleteFunction needs FunctionName",
        tostring(helper.raised(function() lambda:delete_function({}) end)), 1, true)
    end)
  end)
end)
