--- busted output handler: busted's gtest output, then one closing line
--- "tests: N passed, N failed[, N skipped]" that CI tools understand.
--- Use with `busted -o spec/support/summary.lua`.
return function(options)
  local busted = require "busted"
  local inner = require("busted.outputHandlers.gtest")(options)
  busted.subscribe({ "suite", "end" }, function()
    local failed = inner.failuresCount + inner.errorsCount
    local line = ("tests: %d passed, %d failed"):format(inner.successesCount, failed)
    if inner.pendingsCount > 0 then line = line .. (", %d skipped"):format(inner.pendingsCount) end
    io.write(line, "\n")
    io.flush()
    return nil, true
  end)
  return inner
end
