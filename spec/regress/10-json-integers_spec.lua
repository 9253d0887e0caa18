-- Issue 10, bug 1: JSON integers came back as floats (lua-cjson 2.1.0 pushes
-- every number as a float), so the README's `api:get("/profile/" .. user.id)`
-- asked for /profile/7.0 and 64-bit ids lost digits; and a `json=` value
-- that cannot be encoded raised lua-cjson's raw message from inside
-- tide/http.lua. Real servers: nginx (hello.json) and the echo server.
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http

local ngx, flt

local function run(fn) return helper.run(fn, 10 * helper.SLOW) end

describe("issue 10: JSON integers", function()
  lazy_setup(function()
    ngx = servers.nginx()
    flt = servers.faults()
  end)
  lazy_teardown(function()
    servers.stop_all()
  end)
  helper.setup()

  it("api:get('/profile/' .. user.id) asks for /profile/7, not /profile/7.0", function()
    run(function()
      local api <close> = http.client { base_url = flt.url }
      -- The user comes back from a server as JSON text {"id":7,...}.
      local echoed = api:post("/users/echo", { json = { id = 7 } }):await():json()
      assert.equal('{"id":7}', echoed.body)
      local user = tide.json.decode(echoed.body)
      assert.equal("integer", math.type(user.id))
      local profile = api:get("/profile/" .. user.id .. "/echo"):await():json()
      assert.equal("/profile/7/echo", profile.path)
    end)
  end)

  it("res:json() gives integers for JSON integers (nginx's hello.json)", function()
    run(function()
      local doc = http.get(ngx.http .. "/hello.json"):await():json()
      assert.equal("integer", math.type(doc.n))
      assert.equal("42", tostring(doc.n))
      for i = 1, 3 do assert.equal("integer", math.type(doc.list[i])) end
    end)
  end)

  it("a 64-bit id goes out and comes back with every digit", function()
    run(function()
      local id = (1 << 53) + 1
      local echoed = http.post(flt.url .. "/echo", { json = { id = id } }):await():json()
      assert.equal('{"id":9007199254740993}', echoed.body)
      assert.equal(id, tide.json.decode(echoed.body).id)
      assert.equal(math.maxinteger, tide.json.decode(tide.json.encode { id = math.maxinteger }).id)
    end)
  end)

  it("a json= value that cannot be encoded is a usage error naming json.<path> at the caller's line", function()
    local api <close> = http.client { base_url = flt.url }
    local bad = { items = { 1, 2, print } }
    -- (Not tail calls, which would take the caller's frame off the stack.)
    local calls = {
      function() local p = http.post(flt.url .. "/echo", { json = bad }); return p end,
      function() local p = api:post("/echo", { json = bad }); return p end,
      function() local p = http.request { url = flt.url .. "/echo", method = "PUT", json = bad }; return p end,
      function() local p = api:request { url = "/echo", method = "PATCH", json = bad }; return p end,
    }
    for i, call in ipairs(calls) do
      local line = debug.getinfo(call, "S").linedefined
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.is_true(tide.is_error(err, "usage"), tostring(err))
      assert.equal("json.items[3]", err.path)
      assert.equal(("10-json-integers_spec.lua:%d: cannot encode a function (at json.items[3])"):format(line),
        err.message:match("[^/]*$"), "call " .. i)
    end
  end)
end)
