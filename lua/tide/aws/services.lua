--- What tide.aws knows of each service: its protocol, API version, JSON
--- target prefix, signing name, endpoint prefix, the paginated operations'
--- token fields, and (for the query protocol) the service's model in
--- tide.aws.query_shapes.
---
--- A service not listed here is reached with `aws.client(name, {protocol=,
--- version=, target_prefix=, signing_name=})`.
-- @module tide.aws.services

local M = {}

-- Token fields of paginated operations: `input` names the request member
-- that carries the token, `output` the response member that gives it (a
-- list of names when the token has several parts), `items` the list that
-- `:items()` flattens by default.
local function pages(input, output, items)
  return { input = input, output = output or input, items = items }
end

M.dynamodb = {
  id = "DynamoDB", protocol = "json", json_version = "1.0", target_prefix = "DynamoDB_20120810",
  signing_name = "dynamodb", endpoint_prefix = "dynamodb",
  -- B and BS attribute values: Lua strings of bytes, base64 on the wire.
  binary = true,
  paginators = {
    ListTables = pages("ExclusiveStartTableName", "LastEvaluatedTableName", "TableNames"),
    Scan = pages("ExclusiveStartKey", "LastEvaluatedKey", "Items"),
    Query = pages("ExclusiveStartKey", "LastEvaluatedKey", "Items"),
    ListBackups = pages("ExclusiveStartBackupArn", "LastEvaluatedBackupArn", "BackupSummaries"),
    ListTagsOfResource = pages("NextToken", "NextToken", "Tags"),
  },
}

M.sqs = {
  id = "SQS", protocol = "query", version = "2012-11-05", signing_name = "sqs", endpoint_prefix = "sqs",
  -- Params and answers by the API reference's member names, sent and read
  -- as the wire names them (tide.aws.query_shapes, from botocore's model).
  model = "sqs",
  -- Without a model (an operation it lacks): lists sent flattened, Name.1.
  flattened = true,
  paginators = {
    ListQueues = pages("NextToken", "NextToken", "QueueUrls"),
    ListDeadLetterSourceQueues = pages("NextToken", "NextToken", "queueUrls"),
  },
}

M.sns = {
  id = "SNS", protocol = "query", version = "2010-03-31", signing_name = "sns", endpoint_prefix = "sns",
  model = "sns",
  paginators = {
    ListTopics = pages("NextToken", "NextToken", "Topics"),
    ListSubscriptions = pages("NextToken", "NextToken", "Subscriptions"),
    ListSubscriptionsByTopic = pages("NextToken", "NextToken", "Subscriptions"),
  },
}

M.sts = {
  id = "STS", protocol = "query", version = "2011-06-15", signing_name = "sts", endpoint_prefix = "sts",
  model = "sts",
  paginators = {},
}

M.lambda = {
  id = "Lambda", protocol = "rest-json", version = "2015-03-31", signing_name = "lambda",
  endpoint_prefix = "lambda", model = "lambda", -- tide.aws.rest_shapes
  paginators = { ListFunctions = pages("Marker", "NextMarker", "Functions"),
                 ListVersionsByFunction = pages("Marker", "NextMarker", "Versions") },
}

M.kinesis = {
  id = "Kinesis", protocol = "json", json_version = "1.1", target_prefix = "Kinesis_20131202",
  signing_name = "kinesis", endpoint_prefix = "kinesis",
  paginators = { ListStreams = pages("NextToken", "NextToken", "StreamNames"),
                 ListShards = pages("NextToken", "NextToken", "Shards") },
}

M.secretsmanager = {
  id = "Secrets Manager", protocol = "json", json_version = "1.1", target_prefix = "secretsmanager",
  signing_name = "secretsmanager", endpoint_prefix = "secretsmanager",
  paginators = { ListSecrets = pages("NextToken", "NextToken", "SecretList") },
}

M.ssm = {
  id = "SSM", protocol = "json", json_version = "1.1", target_prefix = "AmazonSSM", signing_name = "ssm",
  endpoint_prefix = "ssm",
  paginators = { GetParametersByPath = pages("NextToken", "NextToken", "Parameters"),
                 DescribeParameters = pages("NextToken", "NextToken", "Parameters") },
}

M.logs = {
  id = "CloudWatch Logs", protocol = "json", json_version = "1.1", target_prefix = "Logs_20140328",
  signing_name = "logs", endpoint_prefix = "logs",
  paginators = { DescribeLogGroups = pages("nextToken", "nextToken", "logGroups"),
                 DescribeLogStreams = pages("nextToken", "nextToken", "logStreams"),
                 FilterLogEvents = pages("nextToken", "nextToken", "events") },
}

--- The paginator used for an operation no service lists: `NextToken` both ways.
M.DEFAULT_PAGES = pages("NextToken")

return M
