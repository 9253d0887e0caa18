-- Server-sent events, reconnecting: tide.http.event_source reads a
-- text/event-stream as a browser's EventSource does. The local service
-- sends two events and ends the response; the source connects again after
-- the server's `retry` (100 ms), sending Last-Event-ID, and the loop goes on.
--
--   TIDE_DEMO_URL=... lua5.4 examples/http_events.lua   (scripts/local-api's URL)
local tide = require "tide"

local base = os.getenv("TIDE_DEMO_URL")
if not base then
  io.stderr:write("usage: TIDE_DEMO_URL=http://127.0.0.1:PORT lua5.4 examples/http_events.lua\n")
  os.exit(2)
end

tide.run(function()
  local connections, n = 0, 0
  local events = tide.http.event_source(base .. "/api/events", {
    on_open = function() connections = connections + 1 end,
  })
  for ev in events do
    n = n + 1
    print(("%s: %s%s"):format(ev.event, ev.data:gsub("\n", " / "), ev.id and ev.id ~= "" and " (id set)" or ""))
    if n == 4 then break end -- leaving the loop closes the stream and its connection
  end
  print(("%d events over %d connections"):format(n, connections))
end)
