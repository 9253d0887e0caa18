--- client:paginate(operation, params, opts): a lazy stream of pages.
---
---     for page in db:paginate("scan", { TableName = "t" }) do ... end
---     local names = db:paginate("list_tables"):items():collect():await()
---
--- Each page is fetched when the consumer asks for it; leaving the loop
--- (break) fetches nothing more. The token fields come from
--- tide.aws.services (DynamoDB's LastEvaluatedKey / ExclusiveStartKey,
--- NextToken, Lambda's NextMarker / Marker, ...), or from opts:
--- `input_token=`, `output_token=` (a name, or a list of names for tokens
--- in several parts), `items=` (the list `:items()` flattens).
-- @module tide.aws.paginate
local core = require "tide.core"
local check = require "tide.check"
local stream = require "tide.stream"
local services = require "tide.aws.services"
local client_mod = require "tide.aws.client"

local type, ipairs, pairs, error = type, ipairs, pairs, error

local M = {}

local known = { signal = true, timeout = true, max_attempts = true, input_token = true, output_token = true,
                items = true, max_pages = true }

local function as_list(v)
  if type(v) == "table" then return v end
  return { v }
end

-- CamelCase or snake_case operation name -> PascalCase.
local function operation_name(op)
  if op:match("^%u") then return op end
  return client_mod.pascal(op)
end

--- pages:items(field): a stream of the items of every page: the list `field` of each (default:
--- the operation's own list, e.g. DynamoDB Scan's `Items`).
--- @param field string|nil
--- @return tide.stream
local function items(self, field)
  if type(self) ~= "table" or self.items ~= items then
    error("bad argument #1 to 'items' (a stream of pages expected; call it as pages:items(field))", 2)
  end
  field = field or self._items
  if type(field) ~= "string" then
    error("bad argument #1 to 'items' (field name expected: this operation has no default list)", 2)
  end
  local pages, list, i = self, nil, 0
  return stream.producer(stream.new(function()
    while true do
      if list and i < #list then
        i = i + 1
        return list[i]
      end
      local page = pages:pull()
      if page == nil then return nil end
      list, i = page[field] or {}, 0
    end
  end, function() pages:close() end))
end

--- @param self tide.aws.client
--- @param operation string  "scan" or "Scan"
--- @param params table|nil
--- @param opts table|nil
--- @return tide.aws.pages
function M.paginate(self, operation, params, opts)
  client_mod.check_client(self, "paginate", 2)
  if type(operation) ~= "string" or not operation:match("^%a[%w_]*$") then
    error(("bad argument #1 to 'paginate' (operation name expected, got %s)"):format(type(operation)), 2)
  end
  if params ~= nil and type(params) ~= "table" then
    error(("bad argument #2 to 'paginate' (params table expected, got %s)"):format(type(params)), 2)
  end
  check.options(opts, known, "tide.aws.client:paginate", 3)
  opts = opts or {}
  local op = operation_name(operation)
  local spec = self._service.paginators[op] or services.DEFAULT_PAGES
  local inputs = as_list(opts.input_token or spec.input)
  local outputs = as_list(opts.output_token or spec.output)
  if #inputs ~= #outputs then
    error(core.error("usage", "paginate: input_token and output_token must have as many names"), 2)
  end
  local call_opts = { signal = opts.signal, timeout = opts.timeout, max_attempts = opts.max_attempts }
  local request = {}
  for k, v in pairs(params or {}) do request[k] = v end
  local count, finished, max_pages = 0, false, opts.max_pages
  local s = stream.new(function()
    if finished or (max_pages and count >= max_pages) then return nil end
    local page = client_mod.send(self, op, request, call_opts, "paginate", 1):await()
    count = count + 1
    local more = false
    for i, out in ipairs(outputs) do
      local token = page[out]
      if token ~= nil and token ~= "" then more = true end
      request[inputs[i]] = token
    end
    if not more then finished = true end
    return page
  end, nil, { _items = opts.items or spec.items, items = items })
  return stream.producer(s)
end

return M
