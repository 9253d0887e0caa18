-- Events turned into a stream: an "event source" (a set_interval timer,
-- firing every 20 ms) sends each event into a tide.channel; a consumer
-- task iterates the channel with a plain for loop (each step awaits the
-- next event), stops after 5 events, and then cancels the source and
-- closes the channel. Like wrapping an EventEmitter in an async iterator.
--
-- Run (from the checkout, after scripts/build):
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;;" LUA_CPATH="./build/?.so;;" \
--     lua5.4 examples/event_stream.lua
-- or, after `luarocks make`: lua5.4 examples/event_stream.lua
local tide = require "tide"

local WANTED = 5
local t0 = tide.now()
local function ms() return (tide.now() - t0) * 1000 end

-- The event source: pushes events into the channel until source:stop().
local function start_source(ch)
  local source = { sent = 0 }
  local ticker = tide.set_interval(function()
    source.sent = source.sent + 1
    ch:send { seq = source.sent, at = ms() } -- buffered: fulfils at once while there is room
  end, 0.02)
  function source.stop()
    ticker:cancel()
    ch:close()
  end
  return source
end

tide.run(function()
  local events = tide.channel(16)
  local source = start_source(events)

  local seen = 0
  for ev in events do -- each step waits for the next event
    seen = seen + 1
    print(("event %d at %3.0f ms (handled at %3.0f ms)"):format(ev.seq, ev.at, ms()))
    if seen == WANTED then break end
  end
  source.stop()
  print(("consumer stopped after %d events; source cancelled after sending %d"):format(seen, source.sent))

  tide.sleep(0.1):await()
  print(("100 ms later the source has still sent %d; %s"):format(source.sent, tostring(events)))
end)
