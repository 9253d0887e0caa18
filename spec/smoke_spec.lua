local helper = require "spec.helper"
local tide = require "tide"

describe("smoke", function()
  helper.setup()
  it("runs a task", function()
    assert.equal(42, helper.run(function() tide.sleep(0.001):await(); return 42 end))
  end)
end)
