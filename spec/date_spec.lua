-- tide.date: the dates of HTTP headers and AWS answers as Unix times.
local date = require "tide.date"

describe("tide.date", function()
  -- 1994-11-06 08:49:37 UTC, RFC 9110's example.
  local T = 784111777

  it("reads the three HTTP date forms RFC 9110 lists", function()
    assert.equal(T, date.parse_http("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(T, date.parse_http("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.equal(T, date.parse_http("Sun Nov  6 08:49:37 1994"))
    assert.equal(T, date.parse_http("  Sun, 06 Nov 1994 08:49:37 GMT "))
  end)

  it("refuses what is not an HTTP date", function()
    for _, s in ipairs { "", "120", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 PST",
                         "2026-12-02T03:34:05Z" } do
      assert.is_nil(date.parse_http(s), s)
    end
    assert.is_nil(date.parse_http(nil))
  end)

  it("reads ISO 8601 UTC times with their fraction", function()
    assert.equal(T, date.parse_iso8601("1994-11-06T08:49:37Z"))
    assert.equal(T + 0.25, date.parse_iso8601("1994-11-06T08:49:37.250Z"))
    assert.equal(951782400, date.parse_iso8601("2000-02-29T00:00:00.000Z")) -- a leap day
    assert.is_nil(date.parse_iso8601("1994-11-06 08:49:37"))
  end)

  it("writes an IMF-fixdate that reads back", function()
    assert.equal("Sun, 06 Nov 1994 08:49:37 GMT", date.format_http(T))
    local now = os.time()
    assert.equal(now, date.parse_http(date.format_http(now)))
  end)
end)
