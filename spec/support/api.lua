--- The public API of tide as a list, for the specs that must cover all of
--- it (options_spec, annotations_spec): every function reachable from
--- `require "tide"` -- its fields, the fields of its sub-tables (tide.fs,
--- tide.http, tide.json, tide.stream) and the methods of every object it makes
--- -- and from `require "tide.aws"` (its clients and their methods).
---
--- Each entry is `{ name = ..., fn = ... }`, named as a user writes it:
--- "tide.sleep", "tide.fs.read", "tide.channel:send". Names starting with
--- "_" and metamethods are not public.
local tide = require "tide"

local M = {}

-- The methods table of an object's class: __index when it is a table,
-- else the metatable itself (classes whose __index is a function keep
-- their methods there).
local function methods_of(obj)
  local mt = getmetatable(obj)
  if type(mt.__index) == "table" then return mt.__index end
  return mt
end

local function add_functions(list, seen, prefix, sep, t)
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and k:sub(1, 1) ~= "_" then
      local name = prefix .. sep .. k
      if not seen[name] then
        seen[name] = true
        list[#list + 1] = { name = name, fn = v }
      end
    end
  end
end

--- Every public function, sorted by name.
--- @return {name: string, fn: function}[]
function M.functions()
  local list, seen = {}, {}
  add_functions(list, seen, "tide", ".", tide)
  for _, sub in ipairs { "fs", "http", "json", "stream" } do
    add_functions(list, seen, "tide." .. sub, ".", tide[sub])
  end

  -- One object of each class, made without starting any I/O.
  local task = tide.spawn(function() end)
  local timer = tide.set_timeout(function() end, 1)
  timer:cancel()
  local ctl = tide.abort_controller()
  local client = tide.http.client()
  local objects = {
    { "tide.promise", tide.resolve(nil) },
    { "tide.task", task },
    { "tide.operation", tide.sleep(0) },
    { "tide.timer", timer },
    { "tide.abort_controller", ctl },
    { "tide.signal", ctl.signal },
    { "tide.channel", tide.channel(1) },
    { "tide.semaphore", tide.semaphore(1) },
    { "tide.breaker", tide.breaker() },
    { "tide.scope", tide.scope() },
    { "tide.stream", tide.stream.from {} },
    { "tide.http.client", client },
  }
  for _, o in ipairs(objects) do add_functions(list, seen, o[1], ":", methods_of(o[2])) end
  -- A response needs a server; its class is in tide.http.Response.
  add_functions(list, seen, "tide.http.response", ":", tide.http.Response)
  -- A file needs an open; its class is in tide.fs.File.
  add_functions(list, seen, "tide.file", ":", tide.fs.File)
  client:close()

  -- tide.aws: its functions, DynamoDB's marshal/unmarshal, a client's methods.
  local aws = require "tide.aws"
  add_functions(list, seen, "tide.aws", ".", aws)
  add_functions(list, seen, "tide.aws.dynamodb", ".", aws.dynamodb)
  list[#list + 1] = { name = "tide.aws.dynamodb", fn = getmetatable(aws.dynamodb).__call }
  local db = aws.dynamodb { region = "us-east-1", endpoint = "http://127.0.0.1:9",
                            credentials = { access_key_id = "k", secret_access_key = "s" }, max_attempts = 1 }
  add_functions(list, seen, "tide.aws.client", ":", getmetatable(db))
  db:close()
  -- The S3 client's own methods (upload, download, presign).
  local s3 = aws.s3 { region = "us-east-1", endpoint = "http://127.0.0.1:9",
                      credentials = { access_key_id = "k", secret_access_key = "s" }, max_attempts = 1 }
  add_functions(list, seen, "tide.aws.s3", ":", getmetatable(s3))
  s3:close()
  tide.run()

  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

return M
