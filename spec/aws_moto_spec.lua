-- tide.aws against moto's server mode with its IAM checks on (moto
-- verifies every signature): STS, SQS and SNS through the query protocol,
-- and wrong keys as `aws` errors. On a machine without moto_server these
-- specs are pending, with the reason.
local helper = require "spec.helper"
local tide = require "tide"
local aws = require "tide.aws"
local awsenv = require "spec.support.aws"

local available, why = awsenv.moto_available()

if not available then
  describe("tide.aws with moto", function()
    pending("needs moto_server: " .. why)
  end)
  return
end

describe("tide.aws with moto (signatures checked)", function()
  local moto
  setup(function() moto = assert(awsenv.moto()) end)
  teardown(function() moto.stop() end)
  helper.setup()

  local function client(ctor, creds)
    return ctor { region = awsenv.REGION, endpoint = moto.endpoint, credentials = creds or moto.credentials,
                  max_attempts = 3 }
  end

  it("STS GetCallerIdentity with the user's keys", function()
    local sts <close> = client(aws.sts)
    helper.run(function()
      local me = sts:get_caller_identity({}):await()
      assert.equal("arn:aws:iam::123456789012:user/tide", me.Arn)
      assert.equal("123456789012", me.Account)
      assert.equal(200, me.metadata.status)
      assert.is_string(me.metadata.request_id)
    end)
  end)

  it("a wrong secret is SignatureDoesNotMatch, an unknown key InvalidClientTokenId", function()
    local bad <close> = client(aws.sts, { access_key_id = moto.credentials.access_key_id,
                                          secret_access_key = "wrong" })
    local unknown <close> = client(aws.sts, { access_key_id = "AKIAUNKNOWNKEY000000", secret_access_key = "x" })
    helper.run(function()
      local err = helper.rejection(bad:get_caller_identity({}))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal("SignatureDoesNotMatch", err.code)
      assert.equal(403, err.status)
      assert.is_false(err.retryable)
      assert.equal(1, err.metadata.attempts)
      local err2 = helper.rejection(unknown:get_caller_identity({}))
      assert.equal("InvalidClientTokenId", err2.code)
      assert.equal(403, err2.status)
    end)
  end)

  it("STS AssumeRole gives temporary credentials that moto accepts", function()
    local sts <close> = client(aws.sts)
    helper.run(function()
      local res = sts:assume_role({ RoleArn = "arn:aws:iam::123456789012:role/tide-role",
                                    RoleSessionName = "spec" }):await()
      local c = res.Credentials
      assert.is_string(c.AccessKeyId)
      assert.is_string(c.SessionToken)
      assert.is_string(c.Expiration)
    end)
  end)

  it("SQS: create a queue, send and receive, attributes and message attributes (query protocol, the model's names)",
    function()
    local sqs <close> = client(aws.sqs)
    helper.run(function()
      local name = helper.key("q"):gsub("[^%w]", "-")
      local url = sqs:create_queue({ QueueName = name }):await().QueueUrl
      assert.equal("/123456789012/" .. name, url:match("/%d+/[^/]*$"))
      local sent = sqs:send_message({ QueueUrl = url, MessageBody = "hello, world: 1 + 1 = 2 & more",
                                      MessageAttributes = {
                                        color = { DataType = "String", StringValue = "blue" },
                                        raw = { DataType = "Binary", BinaryValue = "\0\1\255" },
                                      } }):await()
      assert.is_string(sent.MessageId)
      assert.is_string(sent.MD5OfMessageAttributes)
      local got = sqs:receive_message({ QueueUrl = url, MaxNumberOfMessages = 5, MessageAttributeNames = { "All" },
                                        AttributeNames = { "All" } }):await()
      assert.equal(1, #got.Messages)
      local msg = got.Messages[1]
      assert.equal("hello, world: 1 + 1 = 2 & more", msg.Body)
      assert.same({ DataType = "String", StringValue = "blue" }, msg.MessageAttributes.color)
      assert.equal("\0\1\255", msg.MessageAttributes.raw.BinaryValue)
      assert.is_string(msg.Attributes.SentTimestamp)
      sqs:delete_message({ QueueUrl = url, ReceiptHandle = msg.ReceiptHandle }):await()
      -- Attributes: a flattened map both ways (Attribute.N.Name / Value).
      sqs:set_queue_attributes({ QueueUrl = url, Attributes = { VisibilityTimeout = "45", DelaySeconds = "2" } })
        :await()
      local attrs = sqs:get_queue_attributes({ QueueUrl = url,
                                               AttributeNames = { "VisibilityTimeout", "DelaySeconds" } })
        :await().Attributes
      assert.equal("45", attrs.VisibilityTimeout)
      assert.equal("2", attrs.DelaySeconds)
      local urls = sqs:list_queues({}):await().QueueUrls
      assert.is_true(#urls >= 1)
      local empty = sqs:receive_message({ QueueUrl = url }):await()
      assert.is_nil(empty.Messages)
      local err = helper.rejection(sqs:get_queue_url({ QueueName = "no-such-queue" }))
      assert.is_true(tide.is_error(err, "aws"))
      assert.equal(400, err.status)
      assert.matches("NonExistentQueue", err.code)
    end)
  end)

  it("SNS: topics, member lists and paginate", function()
    local sns <close> = client(aws.sns)
    helper.run(function()
      local arns = {}
      for i = 1, 3 do
        arns[i] = sns:create_topic({ Name = helper.key("topic" .. i):gsub("[^%w]", "-") }):await().TopicArn
      end
      local listed = {}
      for topic in sns:paginate("list_topics"):items() do listed[topic.TopicArn] = true end
      for _, arn in ipairs(arns) do assert.is_true(listed[arn], arn) end
      local attrs = sns:get_topic_attributes({ TopicArn = arns[1] }):await().Attributes
      assert.equal(arns[1], attrs.TopicArn)
    end)
  end)
end)
