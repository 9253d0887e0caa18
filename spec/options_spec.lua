-- One option policy (check.options): every public function that takes an
-- options table raises a `usage` error naming the unknown option and the
-- function, before it starts anything. The table below lists every public
-- function (spec/support/api.lua walks them): a new function must be added
-- to OPTIONS or to NO_OPTIONS, or this spec fails.
local helper = require "spec.helper"
local tide = require "tide"
local api = require "spec.support.api"

local U = "http://127.0.0.1:9/x" -- nothing listens: no request may start

local function closed_channel()
  local ch = tide.channel(1)
  ch:close()
  return ch
end

-- An open file (/dev/null, for reading and writing), opened at the top
-- level.
local function null_file()
  return tide.fs.open("/dev/null", "r+"):await()
end

-- name -> function(opts) calling it with valid arguments and `opts` as its
-- options table; `signal` is false for the two whose options have no signal.
local OPTIONS = {
  ["tide.sleep"] = { function(o) return tide.sleep(0, o) end },
  ["tide.timeout"] = { function(o) return tide.timeout(1, function() end, o) end },
  ["tide.scope"] = { function(o) return tide.scope(function() end, o) end },
  ["tide.retry"] = { function(o) return tide.retry(function() end, o) end },
  ["tide.map"] = { function(o) return tide.map({ 1 }, function() end, o) end },
  ["tide.breaker"] = { function(o) return tide.breaker(o) end, signal = false },
  ["tide.channel:send"] = { function(o) return tide.channel(1):send(1, o) end },
  ["tide.channel:recv"] = { function(o) return closed_channel():recv(o) end },
  ["tide.channel:collect"] = { function(o) return closed_channel():collect(o) end },
  ["tide.channel:each"] = { function(o) return closed_channel():each(function() end, o) end },
  ["tide.semaphore:acquire"] = { function(o) return tide.semaphore(1):acquire(o) end },
  ["tide.semaphore:with"] = { function(o) return tide.semaphore(1):with(function() end, o) end },
  ["tide.stream:collect"] = { function(o) return tide.stream.from({ 1 }):collect(o) end },
  ["tide.stream:each"] = { function(o) return tide.stream.from({ 1 }):each(function() end, o) end },
  ["tide.fs.read"] = { function(o) return tide.fs.read("/nonexistent", o) end },
  ["tide.fs.write"] = { function(o) return tide.fs.write("/nonexistent/x", "", o) end },
  ["tide.fs.append"] = { function(o) return tide.fs.append("/nonexistent/x", "", o) end },
  ["tide.fs.stat"] = { function(o) return tide.fs.stat("/nonexistent", o) end },
  ["tide.fs.readdir"] = { function(o) return tide.fs.readdir("/nonexistent", o) end },
  ["tide.fs.mkdir"] = { function(o) return tide.fs.mkdir("/nonexistent/x", o) end },
  ["tide.fs.remove"] = { function(o) return tide.fs.remove("/nonexistent", o) end },
  ["tide.fs.rename"] = { function(o) return tide.fs.rename("/nonexistent", "/nonexistent2", o) end },
  ["tide.fs.exists"] = { function(o) return tide.fs.exists("/nonexistent", o) end },
  ["tide.fs.open"] = { function(o) return tide.fs.open("/nonexistent", "r", o) end },
  ["tide.pipe"] = { function(o) return tide.pipe(tide.stream.from {}, function() end, o) end },
  ["tide.file:read"] = { function(o) local p = null_file():read(1, o); return p end },
  ["tide.file:write"] = { function(o) local p = null_file():write("x", o); return p end },
  ["tide.file:seek"] = { function(o) local p = null_file():seek("set", 0, o); return p end },
  ["tide.file:size"] = { function(o) local p = null_file():size(o); return p end },
  ["tide.file:close"] = { function(o) local p = null_file():close(o); return p end },
  ["tide.http.request"] = { function(o) o = o or {}; o.url = U; return tide.http.request(o) end },
  ["tide.http.client"] = { function(o) return tide.http.client(o) end, signal = false },
  ["tide.http.event_source"] = { function(o)
    o = o or {}
    o.max_reconnects = 0
    local s = tide.http.event_source(U, o)
    return s:read()
  end },
  ["tide.debug"] = { function(o) return tide.debug(o) end, signal = false },
}
for _, m in ipairs { "get", "head", "post", "put", "patch", "delete" } do
  OPTIONS["tide.http." .. m] = { function(o) return tide.http[m](U, o) end }
  OPTIONS["tide.http.client:" .. m] = { function(o) local c = tide.http.client(); return c[m](c, U, o) end }
end
-- tide.aws: clients of every service, their calls, paginate and wait_until.
local aws = require "tide.aws"
local AWS = { region = "us-east-1", endpoint = U, credentials = { access_key_id = "k", secret_access_key = "s" },
              max_attempts = 1 }
local function aws_opts(o)
  local t = {}
  for k, v in pairs(AWS) do t[k] = v end
  for k, v in pairs(o or {}) do t[k] = v end
  return t
end
for _, svc in ipairs { "dynamodb", "sqs", "sns", "sts", "lambda", "kinesis", "secretsmanager", "ssm", "logs" } do
  OPTIONS["tide.aws." .. svc] = { function(o) return aws[svc](aws_opts(o)) end, signal = false }
end
OPTIONS["tide.aws.s3"] = { function(o) return aws.s3(aws_opts(o)) end, signal = false }
-- s3:upload and s3:download take their options in the one table, beside
-- the S3 params (PascalCase).
local function s3_call(method, params)
  return function(o)
    local t = {}
    for k, v in pairs(params) do t[k] = v end
    for k, v in pairs(o or {}) do t[k] = v end
    local s3 = aws.s3(AWS)
    return s3[method](s3, t)
  end
end
OPTIONS["tide.aws.s3:upload"] = { s3_call("upload", { Bucket = "b-1", Key = "k", Body = "x" }) }
OPTIONS["tide.aws.s3:download"] = { s3_call("download", { Bucket = "b-1", Key = "k", output = "/nonexistent/x" }) }
OPTIONS["tide.aws.s3:presign"] = { function(o)
  return aws.s3(AWS):presign("get_object", { Bucket = "b-1", Key = "k" }, o)
end, signal = false }
OPTIONS["tide.aws.client"] = { function(o) return aws.client("dynamodb", aws_opts(o)) end, signal = false }
OPTIONS["tide.aws.client:send"] = { function(o) return aws.dynamodb(AWS):send("ListTables", {}, o) end }
-- paginate makes a stream, not a promise: its signal goes to each page's call.
OPTIONS["tide.aws.client:paginate"] = {
  function(o) return aws.dynamodb(AWS):paginate("list_tables", {}, o) end, signal = false }
OPTIONS["tide.aws.client:wait_until"] = {
  function(o) return aws.dynamodb(AWS):wait_until("table_exists", { TableName = "t" }, o) end }
if aws.sign and not OPTIONS["tide.aws.sign"] then
  OPTIONS["tide.aws.sign"] = { function(o)
    local t = { region = "us-east-1", service = "sqs" }
    for k, v in pairs(o or {}) do t[k] = v end
    return aws.sign({ method = "GET", url = U }, AWS.credentials, t)
  end, signal = false }
end
OPTIONS["tide.http.client:request"] = {
  function(o) o = o or {}; o.url = U; return tide.http.client():request(o) end }

-- Functions that take no options table.
local NO_OPTIONS = {}
for name in ([[
  tide.abort_controller tide.abort_controller:abort tide.all tide.all_settled tide.any tide.any_signal
  tide.async tide.await tide.breaker:call tide.channel tide.channel:close tide.channel:filter
  tide.channel:map tide.channel:pull tide.channel:take tide.channel:try_recv tide.channel:try_send
  tide.current tide.deferred tide.error tide.file:chunks tide.file:lines tide.fs.lines tide.generator
  tide.http.client:close tide.http.client:cookies tide.http.close
  tide.http.response:chunks tide.http.response:close tide.http.response:events tide.http.response:header_values
  tide.http.response:json tide.http.response:lines tide.http.response:ok tide.http.response:raise_for_status
  tide.is_error tide.json.array tide.json.decode tide.json.encode
  tide.now tide.on_unhandled tide.pawait tide.promise tide.promise:await tide.promise:catch
  tide.promise:finally tide.promise:next tide.promise:peek tide.promise:state tide.queue_microtask
  tide.race tide.reject tide.resolve tide.run tide.scope:cancel tide.scope:spawn tide.semaphore
  tide.semaphore:release tide.set_interval tide.set_timeout tide.signal:on_abort
  tide.signal:throw_if_aborted tide.spawn tide.stream.from tide.stream.generator tide.stream.lines
  tide.stream.new tide.stream.producer tide.stream:close tide.stream:filter tide.stream:map
  tide.stream:pull tide.stream:read tide.stream:take tide.task:await tide.task:cancel tide.task:catch
  tide.task:finally tide.task:next tide.task:peek tide.task:state tide.task:traceback tide.tasks
  tide.timeout_signal tide.timer:cancel tide.timer:ref tide.timer:unref
  tide.aws.client:close tide.aws.dynamodb.marshal tide.aws.dynamodb.unmarshal tide.aws.dynamodb.binary
  tide.handles tide.dump tide.operation:await tide.operation:cancel tide.operation:catch
  tide.operation:finally tide.operation:next tide.operation:peek tide.operation:state
]]):gmatch("%S+") do NO_OPTIONS[name] = true end

-- Calls fn(opts) and returns what it raised; it must raise at once.
local raised = helper.raised

describe("the option policy", function()
  after_each(function()
    tide.run() -- nothing was started that needs waiting for
    tide.http.close()
    collectgarbage() -- the clients the cases made
  end)

  it("lists every public function", function()
    local public = {}
    for _, e in ipairs(api.functions()) do
      public[e.name] = true
      assert(OPTIONS[e.name] or NO_OPTIONS[e.name],
        e.name .. " is in neither OPTIONS nor NO_OPTIONS of spec/options_spec.lua")
    end
    for name in pairs(OPTIONS) do assert(public[name], name .. " is listed but not public") end
    for name in pairs(NO_OPTIONS) do assert(public[name], name .. " is listed but not public") end
  end)

  local names = {}
  for name in pairs(OPTIONS) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local case = OPTIONS[name]

    it(name .. " raises a usage error for an unknown option", function()
      local err = raised(case[1], { sigal = true })
      assert.is_true(tide.is_error(err, "usage"), name .. " raised " .. tostring(err))
      assert.equal(name .. ": unknown option 'sigal'", err.message)
      assert.equal("usage: " .. name .. ": unknown option 'sigal'", tostring(err))
    end)

    if case.signal ~= false then
      it(name .. " refuses a signal that is not a tide.signal, blaming its caller", function()
        local short = name:match("[^.:]+$")
        -- Not a tail call, so that the error has a line of this file to
        -- point at (the case's own line when it calls a C function).
        local err = raised(function(o) local p = case[1](o); return p end, { signal = 5 })
        local where, msg = err:match("^([^\n]-):%d+: (.*)$")
        assert.matches("options_spec%.lua$", where)
        assert.equal(("bad option 'signal' to '%s' (tide.signal expected, got number)"):format(short), msg)
      end)

      it(name .. " accepts signal=", function()
        local ctl = tide.abort_controller()
        ctl:abort("stop")
        local ok, p = pcall(case[1], { signal = ctl.signal })
        assert(ok, p)
        assert.same({ false, "stop" }, { tide.pawait(p) })
      end)
    end

    it(name .. " accepts no options", function()
      local ok, p = pcall(case[1], nil)
      assert(ok, p)
      if type(p) == "userdata" then p:catch(function() end) end
    end)
  end
end)

describe("the Lua modules", function()
  it("each return a table", function()
    local dir = assert(package.searchpath("tide.check", package.path)):match("^(.*)/check%.lua$")
    local names = {}
    local ls = assert(io.popen("ls " .. dir))
    for name in ls:lines() do
      -- meta.lua holds declarations for editors and is never loaded.
      if name:match("%.lua$") and name ~= "meta.lua" then names[#names + 1] = name:sub(1, -5) end
    end
    ls:close()
    assert(#names > 10, "found only " .. #names .. " modules in " .. dir)
    for _, name in ipairs(names) do
      local modname = name == "init" and "tide" or "tide." .. name
      assert.equal("table", type(require(modname)), modname)
    end
  end)
end)
