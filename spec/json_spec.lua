-- tide.json: numbers (integers exact over int64, floats), strings and
-- escapes, null, arrays that stay arrays, limits, errors with a path, and
-- the policies for what JSON cannot say (sparse arrays, NaN, 1e400,
-- invalid UTF-8).
local helper = require "spec.helper"
local tide = require "tide"
local json = tide.json

local decode, encode = json.decode, json.encode

-- The error that f raises (it must raise).
local function raised(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

-- The json error for decoding s.
local function decode_error(s)
  local err = raised(decode, s)
  assert.is_true(tide.is_error(err, "json"), tostring(err))
  return err
end

-- Encodes v from a Lua function of this file and returns the usage error and
-- the line of the call, so that the message's position can be checked.
local function encode_error(v, ...)
  local line
  local ok, err = pcall(function(...)
    line = debug.getinfo(1, "l").currentline + 1
    return encode(v, ...)
  end, ...)
  assert.is_false(ok, "expected an error")
  assert.is_true(tide.is_error(err, "usage"), tostring(err))
  return err, line
end

-- The message without the position it starts with (checked to be this
-- file's line `line`).
local function strip_where(err, line)
  local where, rest = err.message:match("^(.-:%d+): (.*)$")
  assert.is_truthy(where, err.message)
  assert.equal(("json_spec.lua:%d"):format(line), where:match("[^/]*$"))
  return rest
end

describe("tide.json", function()
  helper.setup()

  it("is tide.json and require 'tide.json'", function()
    assert.equal(json, require "tide.json")
    for _, name in ipairs { "decode", "encode", "array" } do assert.equal("function", type(json[name])) end
    assert.is_not_nil(json.null)
  end)

  describe("numbers", function()
    it("decodes integers to Lua integers: {\"id\":7} gives 7, not 7.0", function()
      local v = decode('{"id":7}')
      assert.equal("integer", math.type(v.id))
      assert.equal("7", tostring(v.id))
      assert.equal("/profile/7", "/profile/" .. v.id)
    end)

    it("keeps every int64 exact, both ways", function()
      local cases = {
        { "9223372036854775807", math.maxinteger },
        { "-9223372036854775808", math.mininteger },
        { "9007199254740993", (1 << 53) + 1 }, -- not a double
        { "-9007199254740993", -((1 << 53) + 1) },
        { "1000000000000007919", 1000000000000007919 },
        { "0", 0 },
        { "-1", -1 },
      }
      for _, c in ipairs(cases) do
        local v = decode(c[1])
        assert.equal("integer", math.type(v), c[1])
        assert.equal(c[2], v)
        assert.equal(c[1], encode(v))
        assert.equal(c[1], encode(decode("[" .. c[1] .. "]")):sub(2, -2))
      end
      assert.equal(0, decode("-0"))
      assert.equal("integer", math.type(decode("-0")))
    end)

    it("decodes integers beyond int64 to floats", function()
      for _, s in ipairs { "9223372036854775808", "-9223372036854775809", "18446744073709551616",
                           "123456789012345678901234567890" } do
        local v = decode(s)
        assert.equal("float", math.type(v), s)
        assert.equal(tonumber(s), v)
      end
    end)

    it("decodes fractions and exponents to floats, correctly rounded", function()
      local cases = {
        { "1.5", 1.5 }, { "1.0", 1.0 }, { "-0.0", -0.0 }, { "0.1", 0.1 }, { "1e2", 100.0 },
        { "1E+2", 100.0 }, { "2.5e-3", 0.0025 }, { "-1.25E-2", -0.0125 },
        { "1.7976931348623157e308", 1.7976931348623157e308 }, { "5e-324", 5e-324 },
        { "0.30000000000000004", 0.1 + 0.2 }, { "1e-400", 0.0 },
      }
      for _, c in ipairs(cases) do
        local v = decode(c[1])
        assert.equal("float", math.type(v), c[1])
        assert.equal(c[2], v, c[1])
      end
      assert.equal(-math.huge, 1 / decode("-0.0")) -- the sign of zero is kept
    end)

    it("rejects a number too large for a double (1e400) rather than make it inf", function()
      for _, s in ipairs { "1e400", "-1e400", "[1, 2e999]" } do
        local err = decode_error(s)
        assert.matches("Number too big", err.message)
      end
    end)

    it("encodes integers without a fraction and floats so that they read back the same", function()
      assert.equal("7", encode(7))
      assert.equal("7.0", encode(7.0))
      assert.equal("-0.0", encode(-0.0))
      assert.equal("0.1", encode(0.1))
      assert.equal(0.1 + 0.2, decode(encode(0.1 + 0.2))) -- Grisu2: exact, not always shortest
      assert.equal("1e21", encode(1e21))
      assert.equal("1e-7", encode(1e-7))
      assert.equal("9007199254740992.0", encode(2.0 ^ 53))
      for _, x in ipairs { 1 / 3, math.pi, 1e300, 5e-324, 1.7976931348623157e308, -123.456 } do
        local s = encode(x)
        assert.equal(x, decode(s), s)
        assert.equal("float", math.type(decode(s)), s)
      end
    end)

    it("refuses NaN and the infinities with a usage error", function()
      for _, c in ipairs { { 0 / 0, "NaN" }, { math.huge, "inf" }, { -math.huge, "-inf" } } do
        local err, line = encode_error({ x = c[1] })
        assert.equal(("cannot encode %s (at value.x)"):format(c[2]), strip_where(err, line))
      end
    end)
  end)

  describe("strings", function()
    it("decodes escapes and \\u escapes, surrogate pairs included, to UTF-8", function()
      assert.equal('a"b\\c/d\b\f\n\r\t', decode([["a\"b\\c\/d\b\f\n\r\t"]]))
      assert.equal("é", decode([["\u00e9"]]))
      assert.equal("€", decode([["\u20AC"]]))
      assert.equal("😀", decode([["\ud83d\ude00"]]))
      assert.equal("x\0y", decode([["x\u0000y"]]))
      assert.equal("Zoë Ñandú 日本", decode('"Zoë Ñandú 日本"'))
    end)

    it("rejects a high surrogate escape without its low half, and a raw control character", function()
      assert.matches("surrogate", decode_error([["\ud800"]]).message)
      assert.matches("surrogate", decode_error([["\ud800\u0041"]]).message)
      assert.equal("\xed\xb8\x80x", decode([["\ude00x"]])) -- a lone low half: its three bytes
      assert.equal("invalid JSON at byte 2: a control character in a string", decode_error('"a\1"').message)
      assert.equal("invalid JSON at byte 2: a control character in a string", decode_error('"a\nb"').message)
    end)

    it("passes bytes that are not UTF-8 through unchanged, both ways (strings are bytes)", function()
      local bytes = "\xff\xfe\xc3("
      assert.equal(bytes, decode('"' .. bytes .. '"'))
      assert.equal('"' .. bytes .. '"', encode(bytes))
    end)

    it("encodes with the escapes JSON needs and nothing more", function()
      assert.equal([["a\"b\\c/d\b\f\n\r\t\u0001\u001F"]], encode('a"b\\c/d\b\f\n\r\t\1\31'))
      assert.equal('"é😀"', encode("é😀"))
      assert.equal([["\u0000"]], encode("\0"))
    end)
  end)

  describe("null, arrays and objects", function()
    it("decodes null to tide.json.null and encodes it back", function()
      assert.equal(json.null, decode("null"))
      local v = decode('{"a":null,"b":[null,1]}')
      assert.equal(json.null, v.a)
      assert.equal(json.null, v.b[1])
      assert.equal("null", encode(json.null))
      assert.equal('[null,1]', encode(v.b))
      assert.equal("tide.json.null", tostring(json.null))
      assert.equal("null", encode(nil))
    end)

    it("encodes lua-cjson's null as null too", function()
      assert.equal("[null]", encode({ require("cjson").null }))
    end)

    it("round-trips empty arrays and objects, nested too", function()
      assert.equal("[]", encode(decode("[]")))
      assert.equal("{}", encode(decode("{}")))
      assert.equal('{"a":[]}', encode(decode('{"a":[]}')))
      assert.equal('[[],{},[[]]]', encode(decode(' [ [ ] , { } , [ [ ] ] ] ')))
      assert.equal('{"a":{"b":{}}}', encode(decode('{"a":{"b":{}}}')))
    end)

    it("decodes arrays to sequences marked as arrays, objects to plain tables", function()
      local v = decode('{"list":[1,"two",true,false],"obj":{"k":"v"}}')
      assert.same({ 1, "two", true, false }, v.list)
      assert.equal(4, #v.list)
      assert.equal(getmetatable(json.array {}), getmetatable(v.list))
      assert.is_nil(getmetatable(v.obj))
      assert.is_nil(getmetatable(v))
      assert.equal("v", v.obj.k)
    end)

    it("tide.json.array(t) marks t (and returns it) to encode as an array", function()
      local t = {}
      assert.equal(t, json.array(t))
      assert.equal("[]", encode(t))
      assert.equal("{}", encode {})
      assert.equal("[1,2]", encode(json.array { 1, 2 }))
      assert.equal(t, json.array(t)) -- marking twice is fine
      local err = raised(json.array, setmetatable({}, {}))
      assert.matches("bad argument #1 to '.*array' %(table has a metatable already%)", err)
      assert.matches("table expected, got string", raised(json.array, "x"))
    end)

    it("encodes a table with keys 1..n as an array and string keys as an object", function()
      assert.equal("[1,2,3]", encode { 1, 2, 3 })
      assert.equal('{"a":1}', encode { a = 1 })
      assert.equal('[{"x":[true]}]', encode { { x = { true } } })
      local v = decode(encode { a = 1, b = "two", c = { 3 } })
      assert.same({ a = 1, b = "two", c = { 3 } }, v)
    end)

    it("keeps the last of repeated keys", function()
      assert.same({ a = 2 }, decode('{"a":1,"a":2}'))
    end)

    it("decodes large containers in order (past the items kept on the stack at once)", function()
      local items, members = {}, {}
      for i = 1, 5000 do
        items[i] = tostring(i)
        members[i] = ('"k%d":[%d,{"i":%d}]'):format(i, i, i)
      end
      local list = decode("[" .. table.concat(items, ",") .. "]")
      assert.equal(5000, #list)
      for i = 1, 5000 do assert.equal(i, list[i]) end
      local obj = decode("{" .. table.concat(members, ",") .. ',"k1":"last"}')
      for i = 2, 5000 do
        assert.equal(i, obj["k" .. i][1])
        assert.equal(i, obj["k" .. i][2].i)
      end
      assert.equal("last", obj.k1)
      assert.equal(table.concat(items, ","), encode(list):sub(2, -2))
    end)
  end)

  describe("limits and bad text", function()
    it("decodes 1000 levels of nesting and refuses 1001, cleanly", function()
      local ok = decode(("["):rep(1000) .. ("]"):rep(1000))
      assert.equal("table", type(ok))
      local err = decode_error(("["):rep(1001) .. ("]"):rep(1001))
      assert.equal("invalid JSON at byte 1000: nested deeper than 1000 levels", err.message)
    end)

    it("refuses a million open brackets with an error, not a crash", function()
      local err = decode_error(("["):rep(1000000))
      assert.matches("nested deeper than 1000 levels", err.message)
      err = decode_error(('{"a":'):rep(1000000))
      assert.matches("nested deeper than 1000 levels", err.message)
    end)

    it("refuses trailing garbage, a NUL after the value included, but allows whitespace", function()
      assert.same({ 1 }, decode(" \t\r\n[1] \n"))
      for _, s in ipairs { "[1] x", "[1]\0", "[1][2]", "1 2", "{} {}", "01" } do
        local err = decode_error(s)
        assert.matches("must not be followed by other values", err.message, nil, true)
      end
      assert.equal(3, decode_error("[1]\0").offset)
    end)

    it("names the byte where the text went wrong", function()
      local err = decode_error('{"a":1,}')
      assert.equal("invalid JSON at byte 7: Missing a name for object member.", err.message)
      assert.equal(7, err.offset)
      assert.equal("json: invalid JSON at byte 7: Missing a name for object member.", tostring(err))
      for _, s in ipairs { "", " ", "[1,2", "[1,2,]", "{'a':1}", "nan", "NaN", "Infinity", "tru", "\"abc",
                           "[1 2]", "{\"a\" 1}", "+1", ".5", "1.", "0x10" } do
        decode_error(s)
      end
    end)

    it("raises Lua's argument error for something that is not a string", function()
      assert.matches("bad argument #1 to 'decode' %(string expected, got no value%)",
        raised(function() return decode() end))
      assert.matches("bad argument #1 to 'decode' %(string expected, got table%)",
        raised(function() return decode({}) end))
    end)

    it("refuses tables nested deeper than 1000 levels when encoding", function()
      local t = {}
      local inner = t
      for _ = 1, 1000 do
        inner[1] = {}
        inner = inner[1]
      end
      local err = encode_error(t)
      assert.matches("cannot encode tables nested deeper than 1000 levels", err.message, nil, true)
      assert.equal("value" .. ("[1]"):rep(66) .. "...", err.path)
    end)
  end)

  describe("values that cannot be encoded", function()
    it("name the path inside the value and point at the caller's line", function()
      local err, line = encode_error({ items = { 1, 2, print } })
      assert.equal("cannot encode a function (at value.items[3])", strip_where(err, line))
      assert.equal("value.items[3]", err.path)
      assert.equal("usage", err.kind)
    end)

    it("take the root's name and the level from the caller, as error() does", function()
      local function wrapper(v)
        local s = encode(v, "body", 2) -- not a tail call: that would drop this level
        return s
      end
      local line
      local ok, err = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        local s = wrapper({ items = { 1, 2, coroutine.create(print) } })
        return s
      end)
      assert.is_false(ok)
      assert.equal("cannot encode a thread (at body.items[3])", strip_where(err, line))
    end)

    it("spell keys that are not names with brackets", function()
      local err = encode_error({ ["a b"] = { ['q"t'] = { f = print } } })
      assert.equal('value["a b"]["q\\"t"].f', err.path)
      err = encode_error({ ["1st"] = print })
      assert.equal('value["1st"]', err.path)
      err = encode_error(print)
      assert.equal("value", err.path)
    end)

    it("cover functions, threads, userdata, cycles, mixed and odd keys", function()
      local cycle = { a = {} }
      cycle.a.b = cycle
      local cases = {
        { { f = print }, "cannot encode a function (at value.f)" },
        { { io.stdout }, "cannot encode a FILE* (at value[1])" },
        { cycle, "cannot encode a table that contains itself (at value.a.b)" },
        { { list = { 1, 2, x = 3 } }, "cannot encode a table with both array items and string keys (at value.list)" },
        { { [true] = 1 }, "cannot encode a table key of type boolean (at value)" },
        { { [1.5] = 1 }, "cannot encode a table key of type float (at value)" },
        { { [{}] = 1 }, "cannot encode a table key of type table (at value)" },
        { json.array { x = 1 }, "cannot encode a table with both array items and string keys (at value)" },
      }
      for _, c in ipairs(cases) do
        local err, line = encode_error(c[1])
        assert.equal(c[2], strip_where(err, line))
      end
    end)

    it("refuse sparse arrays, naming the first hole (nil cannot stand for null)", function()
      local cases = {
        { { 1, nil, 3 }, 2 },
        { { [1] = "a", [3] = "c" }, 2 },
        { { [2] = "b" }, 1 },
        { { [1] = "a", [1000] = "z" }, 2 },
      }
      for _, c in ipairs(cases) do
        local err = encode_error({ list = c[1] })
        assert.matches(("cannot encode a sparse array (nothing at index %d; use tide.json.null for null) " ..
          "(at value.list)"):format(c[2]), err.message, nil, true)
      end
      local err = encode_error({ [0] = "zero" })
      assert.matches("cannot encode an array with index 0 (at value)", err.message, nil, true)
      assert.equal("[1,null,3]", encode { 1, json.null, 3 })
    end)

    it("leave the encoder usable after an error", function()
      for _ = 1, 3 do
        encode_error({ 1, { 2, { 3, print } } })
        assert.equal('[1,[2,[3,"x"]]]', encode { 1, { 2, { 3, "x" } } })
      end
    end)
  end)

  it("works from finalizers that run in the middle of a decode or an encode", function()
    local ran = 0
    local doc = encode { a = { 1, 2, 3 }, b = "text" }
    local function garbage()
      for _ = 1, 200 do
        setmetatable({}, { __gc = function()
          local v = decode(doc)
          if encode(v.a) == "[1,2,3]" then ran = ran + 1 end
        end })
      end
    end
    local items = {}
    for i = 1, 20000 do items[i] = ('{"i":%d,"s":"%s"}'):format(i, ("x"):rep(i % 50)) end
    local text = "[" .. table.concat(items, ",") .. "]"
    for _ = 1, 5 do
      garbage()
      local v = decode(text)
      assert.equal(20000, #v)
      assert.equal(20000, v[20000].i)
      garbage()
      assert.equal(#text, #encode(v)) -- the same members, in some order
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(ran > 0)
  end)

  it("round-trips a document of every kind of value", function()
    local text = '{"id":9007199254740993,"f":0.5,"s":"\\u00e9\\n","t":true,"n":null,' ..
      '"a":[],"o":{},"nested":[[1,[2,[3]]],{"k":[{"deep":[]}]}]}'
    local v = decode(text)
    assert.same(v, decode(encode(v)))
    assert.same(v, decode(encode(decode(encode(v)))))
    assert.equal("[]", encode(v.a))
    assert.equal("{}", encode(v.o))
    assert.equal('[[1,[2,[3]]],{"k":[{"deep":[]}]}]', encode(v.nested))
  end)
end)
