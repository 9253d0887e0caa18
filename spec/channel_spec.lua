-- tide.channel: back-pressure, closing, iteration, cancellation.
local helper = require "spec.helper"
local tide = require "tide"

describe("tide.channel", function()
  helper.setup()

  it("passes values in order", function()
    local ch = tide.channel(3)
    for i = 1, 3 do ch:send(i):await() end
    ch:close()
    local got = {}
    for v in ch do got[#got + 1] = v end
    assert.same({ 1, 2, 3 }, got)
  end)

  it("send waits while the channel is full", function()
    local ch = tide.channel(1)
    assert.equal("fulfilled", ch:send("a"):state())
    local second = ch:send("b")
    assert.equal("pending", second:state())
    assert.equal("a", ch:recv():await())
    assert.equal("fulfilled", second:state())
    assert.equal("b", ch:recv():await())
  end)

  it("recv waits while the channel is empty", function()
    local ch = tide.channel(1)
    local r = ch:recv()
    assert.equal("pending", r:state())
    ch:send(42)
    assert.equal(42, r:await())
  end)

  it("with capacity 0 a send waits for a receiver", function()
    local ch = tide.channel()
    local s = ch:send("x")
    tide.sleep(0):await()
    assert.equal("pending", s:state())
    assert.equal("x", ch:recv():await())
    assert.equal("fulfilled", s:state())
  end)

  it("closing: receivers get nil once drained, senders a closed error", function()
    local ch = tide.channel(2)
    ch:send(1)
    local waiting_recv = tide.channel():recv() -- another channel, unaffected
    ch:close()
    assert.equal(1, ch:recv():await())
    assert.is_nil(ch:recv():await())
    local ok, err = tide.pawait(ch:send(2))
    assert.is_false(ok)
    assert.is_true(tide.is_error(err, "closed"))
    assert.equal("closed: the channel is closed", tostring(err))
    assert.equal("pending", waiting_recv:state())
  end)

  it("closing wakes waiting receivers with nil and fails waiting senders", function()
    local empty = tide.channel()
    local r = empty:recv()
    local full = tide.channel()
    local s = full:send("lost")
    empty:close()
    full:close()
    assert.is_nil(r:await())
    assert.is_true(tide.is_error(select(2, tide.pawait(s)), "closed"))
  end)

  it("connects a producer task and a consumer task", function()
    local ch = tide.channel(4)
    local producer = tide.spawn(function()
      for i = 1, 100 do ch:send(i):await() end
      ch:close()
    end)
    local sum = 0
    local consumer = tide.spawn(function()
      for v in ch do sum = sum + v end
    end)
    tide.all({ producer, consumer }):await()
    assert.equal(5050, sum)
  end)

  it("a recv or send can be abandoned through its signal", function()
    local ch = tide.channel()
    local ctl = tide.abort_controller()
    local r = ch:recv { signal = ctl.signal }
    ctl:abort("gave up")
    assert.same({ false, "gave up" }, { tide.pawait(r) })
    -- the abandoned receiver does not swallow the next value
    local ctl2 = tide.abort_controller()
    local s = ch:send("v", { signal = ctl2.signal })
    local r2 = ch:recv()
    assert.equal("v", r2:await())
    ctl2:abort("too late")
    assert.equal("fulfilled", s:state())
  end)

  it("a task cancelled in recv stops waiting", function()
    local ch = tide.channel()
    local t = tide.spawn(function() return ch:recv():await() end)
    t:cancel()
    assert.is_false((tide.pawait(t)))
    ch:send("next")
    -- the cancelled task's receive is not served; a new receiver gets it
    assert.equal("next", ch:recv():await())
  end)

  it("has stream combinators that do not close it", function()
    local ch = tide.channel(10)
    for i = 1, 5 do ch:send(i) end
    assert.same({ 2, 4, n = 2 }, ch:filter(function(x) return x % 2 == 0 end):take(2):collect():await())
    assert.equal(5, ch:recv():await())
    assert.is_false(ch.closed)
  end)

  it("try_send and try_recv never wait, for callbacks", function()
    local ch = tide.channel(1)
    assert.is_true(ch:try_send("a"))
    assert.is_false(ch:try_send("b"))
    assert.equal("a", ch:try_recv())
    assert.is_nil(ch:try_recv())
    local r = ch:recv()
    assert.is_true(ch:try_send("to the waiting receiver"))
    assert.equal("to the waiting receiver", r:await())
    local fed = {}
    local timer = tide.set_interval(function() if ch:try_send(#fed + 1) then fed[#fed + 1] = true end end, 0.001)
    assert.equal(1, ch:recv():await())
    timer:cancel()
    ch:close()
    assert.has_error(function() ch:try_send(1) end, tide.error("closed", "the channel is closed"))
  end)

  it("shows its state", function()
    local ch = tide.channel(2)
    ch:send(1)
    assert.equal("tide.channel (open, 1/2)", tostring(ch))
    ch:close()
    assert.equal("tide.channel (closed, 1/2)", tostring(ch))
  end)

  it("checks its arguments", function()
    assert.has_error(function() tide.channel(-1) end,
      "bad argument #1 to 'channel' (non-negative integer expected, got -1)")
    assert.has_error(function() tide.channel("x") end,
      "bad argument #1 to 'channel' (non-negative integer expected, got string)")
    local ch = tide.channel()
    assert.has_error(function() ch:send(nil) end,
      "bad argument #1 to 'send' (a channel cannot carry nil: nil marks its end)")
    assert.has_error(function() ch.recv({}) end,
      "bad argument #1 to 'recv' (tide.channel expected; call it as channel:recv(...))")
    assert.has_error(function() ch:recv(5) end, "bad argument #1 to 'recv' (options table expected, got number)")
    assert.has_error(function() ch.pull(5) end,
      "bad argument #1 to 'pull' (tide.channel expected; call it as channel:pull(...))")
  end)
end)
