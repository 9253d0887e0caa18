-- A client that retries, honouring Retry-After: the local service allows
-- two requests a second and answers 429 with `Retry-After: 1` beyond that.
-- Three requests in a row: the first passes, the second is refused, the
-- client waits the second the server asks for and sends it again.
--
--   TIDE_DEMO_URL=... lua5.4 examples/http_retry_after.lua   (scripts/local-api's URL)
local tide = require "tide"

local base = os.getenv("TIDE_DEMO_URL")
if not base then
  io.stderr:write("usage: TIDE_DEMO_URL=http://127.0.0.1:PORT lua5.4 examples/http_retry_after.lua\n")
  os.exit(2)
end

tide.run(function()
  local api <close> = tide.http.client {
    base_url = base,
    -- up to 3 attempts; a Retry-After longer than `max` seconds is cut to it
    retry = {
      attempts = 3, max = 5,
      on_retry = function(err, attempt, delay)
        print(("  attempt %d: HTTP %d, Retry-After: %s; waiting %.1f s"):format(attempt, err.status,
          err.response.headers["retry-after"], delay))
      end,
    },
  }
  for i = 1, 3 do
    local t0 = tide.now()
    local res = api:get("/api/limited"):await()
    print(("request %d: HTTP %d in %.0f ms"):format(i, res.status, (tide.now() - t0) * 1000))
  end
end)
