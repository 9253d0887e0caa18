-- Regressions of issue 15 (hostile input) in tide.fs: dropped line streams,
-- opens blocked in libuv's thread pool, and out-of-memory in fs calls.
local helper = require "spec.helper"
local tide = require "tide"

describe("a tide.fs.lines stream dropped unclosed", function()
  helper.setup()

  it("closes its descriptor when it is collected", function()
    local path = helper.tmpdir() .. "/lines.txt"
    local f = assert(io.open(path, "w"))
    f:write("one\ntwo\nthree\n")
    f:close()
    local before = helper.open_fds()
    -- No collection until they are all dropped, to see that they held files.
    collectgarbage("stop")
    finally(function() collectgarbage("restart") end)
    helper.run(function()
      for _ = 1, 200 do
        local lines = tide.fs.lines(path)
        assert.equal("one", lines())
      end
      assert.is_true(helper.open_fds() >= before + 100, "the streams did not hold their files")
    end)
    collectgarbage("restart")
    collectgarbage()
    collectgarbage()
    assert.equal(before, helper.open_fds())
    os.remove(path)
  end)
end)
