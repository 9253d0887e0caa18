--- The AWS SDKs' standard retry mode: at most `max_attempts` attempts (3),
--- throttling, transient and 5xx errors retried, full-jitter exponential
--- backoff capped at 20 s, server hints (Retry-After, x-amz-retry-after)
--- honoured, and a retry quota per client: 500 tokens, 5 taken by a
--- retry (10 after a timeout), given back on success (1 when nothing was
--- retried).
-- @module tide.aws.retry
local random, min, max = math.random, math.min, math.max
local date = require "tide.date"

local M = {}

M.MAX_ATTEMPTS = 3
M.MAX_BACKOFF = 20
M.BASE = 0.1             -- seconds: the base of the backoff
M.THROTTLING_BASE = 0.5  -- after a throttling error
M.QUOTA = 500
M.RETRY_COST = 5
M.TIMEOUT_COST = 10
M.NO_RETRY_INCREMENT = 1

--- @class tide.aws.quota
local Quota = {}
Quota.__index = Quota

--- A retry quota full of tokens.
--- @return tide.aws.quota
function M.quota()
  return setmetatable({ tokens = M.QUOTA }, Quota)
end

--- Takes the cost of retrying after `err`; nil when the quota has run out.
--- @return integer|nil
function Quota:acquire(err)
  local cost = err.timeout and M.TIMEOUT_COST or M.RETRY_COST
  if self.tokens < cost then return nil end
  self.tokens = self.tokens - cost
  return cost
end

--- A success: gives back what the retry that led to it took (`cost`), or
--- one token when it needed no retry.
function Quota:release(cost)
  self.tokens = min(M.QUOTA, self.tokens + (cost or M.NO_RETRY_INCREMENT))
end

-- An HTTP date as a Unix time, or nil.
M.http_date = date.parse_http

--- The delay the server asks for, in seconds (nil without a hint):
--- `x-amz-retry-after` in milliseconds, `Retry-After` in seconds or as an
--- HTTP date.
--- @param headers table|nil
--- @return number|nil
function M.hint(headers)
  if not headers then return nil end
  local ms = tonumber(headers["x-amz-retry-after"])
  if ms and ms >= 0 then return ms / 1000 end
  local ra = headers["retry-after"]
  if ra then
    local s = tonumber(ra)
    if s and s >= 0 then return s end
    local t = M.http_date(ra)
    if t then return max(0, t - os.time()) end
  end
end

--- The delay before attempt `attempt + 1`, after `err` failed attempt
--- `attempt` (1-based): full jitter, random() * min(20, base * 2^(attempt-1)),
--- unless the server gave a hint (then the hint, capped at 20 s).
--- @return number
function M.delay(err, attempt, headers)
  local hint = M.hint(headers)
  if hint then return min(hint, M.MAX_BACKOFF) end
  local base = err.throttling and M.THROTTLING_BASE or M.BASE
  return random() * min(M.MAX_BACKOFF, base * 2 ^ (attempt - 1))
end

return M
