--- The `aws` errors that service calls reject with, and which of them are
--- worth another attempt (the SDKs' standard retry mode).
---
---     err.kind == "aws"; err.code ("ResourceNotFoundException"), err.message,
---     err.status, err.request_id, err.service, err.operation,
---     err.retryable, err.throttling, err.cause (a network failure)
-- @module tide.aws.errors
local core = require "tide.core"

local M = {}

--- Error codes that mean "slow down" (retried, with the throttling base).
M.THROTTLING = {}
for code in ([[Throttling ThrottlingException ThrottledException RequestThrottledException
  TooManyRequestsException ProvisionedThroughputExceededException TransactionInProgressException
  RequestLimitExceeded BandwidthLimitExceeded LimitExceededException RequestThrottled SlowDown
  PriorRequestNotComplete EC2ThrottledException]]):gmatch("%S+") do
  M.THROTTLING[code] = true
end

--- Error codes of transient failures (retried).
M.TRANSIENT = {}
for code in ([[RequestTimeout RequestTimeoutException InternalError InternalServerError
  InternalFailure ServiceUnavailable ServiceUnavailableException IDPCommunicationError]]):gmatch("%S+") do
  M.TRANSIENT[code] = true
end

--- Codes that say the request's clock is off (corrected, then retried).
M.CLOCK_SKEW = { RequestTimeTooSkewed = true, RequestExpired = true, RequestInTheFuture = true,
                 InvalidSignatureException = true, SignatureDoesNotMatch = true, AuthFailure = true }

--- Codes that say the credentials expired (fetched again, then retried once).
M.EXPIRED_TOKEN = { ExpiredToken = true, ExpiredTokenException = true }

--- Codes never retried, whatever the status says.
M.NEVER = { ValidationException = true }

local TRANSIENT_STATUS = { [500] = true, [502] = true, [503] = true, [504] = true }

--- A new `aws` error. `f` holds code, message, status, request_id, service,
--- operation and cause; retryable and throttling are worked out here.
--- @param f table
--- @return table tide.error
function M.new(f)
  local code = f.code
  f.throttling = (code ~= nil and M.THROTTLING[code] == true) or f.status == 429
  if f.retryable == nil then
    f.retryable = not M.NEVER[code] and (f.throttling or (code ~= nil and M.TRANSIENT[code] == true)
      or (f.status ~= nil and TRANSIENT_STATUS[f.status] == true))
  end
  local where = ("%s %s"):format(f.service or "?", f.operation or "?")
  local text
  if code then
    text = ("%s: %s%s"):format(where, code, (f.message and f.message ~= "") and (": " .. f.message) or "")
  else
    text = ("%s: %s"):format(where, f.message or ("HTTP " .. tostring(f.status)))
  end
  if f.status then text = text .. (" (HTTP %d)"):format(f.status) end
  return core.error("aws", text, f)
end

--- The `aws` error for a failure below HTTP (refused, reset, timed out):
--- the failure is its `cause`, and it may be retried.
--- @return table tide.error
function M.network(cause, service, operation)
  local code = core.is_error(cause, "timeout") and "RequestTimeout" or "NetworkingError"
  local f = { code = code, service = service, operation = operation, cause = cause, retryable = true,
              message = core.is_error(cause) and cause.message or tostring(cause),
              timeout = core.is_error(cause, "timeout") }
  local err = M.new(f)
  err.retryable = true
  return err
end

return M
