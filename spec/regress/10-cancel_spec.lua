-- Issue 10, "Cancelling one operation": a request promise had no cancel
-- (the only way to stop one was a signal or a wrapping task), and neither
-- had sleep, files, timeout, retry, map, channel and semaphore waits or
-- collect/each. Every promise an operation returns now has p:cancel(reason):
-- its work stops, seen from outside (the timer count drops, the fd count
-- returns, the server sees its connection close), and it rejects with a
-- `cancelled` error. Plain promises have none.
local helper = require "spec.helper"
local tide = require "tide"
local core = require "tide.core"
local servers = require "spec.support.servers"

local http = tide.http
local rejection, wait_for = helper.rejection, helper.wait_for

-- (The first await lets helper.run set its watchdog timer, so that timer
-- counts taken after it are stable.)
local function run(fn)
  return helper.run(function() tide.sleep(0):await(); return fn() end, 10 * helper.SLOW)
end

-- Cancels p with `why` and checks how it ends.
local function cancelled(p, why)
  assert.equal("pending", p:state())
  assert.is_true(p:cancel(why))
  local err = rejection(p)
  assert.is_true(tide.is_error(err, "cancelled"), tostring(err))
  assert.equal(why, err.reason)
  return err
end

describe("issue 10: p:cancel on every operation", function()
  local flt
  lazy_setup(function() flt = servers.faults() end)
  lazy_teardown(function() servers.stop_all() end)
  helper.setup()

  it("plain promises have no cancel; tasks and operations do", function()
    run(function()
      assert.is_nil(tide.promise(function() end).cancel)
      assert.is_nil(tide.deferred().cancel)
      assert.is_nil(tide.resolve(1).cancel)
      assert.is_function(tide.spawn(function() end).cancel)
      local p = tide.sleep(0)
      assert.is_function(p.cancel)
      assert.equal("tide.promise (pending)", tostring(p))
      p:await()
    end)
  end)

  it("cancelling a settled operation does nothing", function()
    run(function()
      local p = tide.sleep(0)
      p:await()
      assert.is_false(p:cancel("late"))
      assert.equal("fulfilled", p:state())
    end)
  end)

  it("sleep: the timer count drops", function()
    run(function()
      local before = core.stats().timers
      local p = tide.sleep(30)
      assert.equal(before + 1, core.stats().timers)
      cancelled(p, "enough")
      assert.equal(before, core.stats().timers)
    end)
  end)

  it("tide.timeout: the clock and the work stop", function()
    run(function()
      local before = core.stats().timers
      local stopped = false
      local p = tide.timeout(30, function()
        local _ <close> = setmetatable({}, { __close = function() stopped = true end })
        tide.sleep(30):await()
      end)
      cancelled(p, "enough")
      assert.is_true(wait_for(function() return stopped end))
      assert.equal(before, core.stats().timers)
    end)
  end)

  it("tide.retry and tide.map: the attempts and the calls stop", function()
    run(function()
      local before = core.stats().timers
      cancelled(tide.retry(function() tide.sleep(30):await() end), "r")
      cancelled(tide.map({ 1, 2, 3 }, function() tide.sleep(30):await() end), "m")
      assert.is_true(wait_for(function() return core.stats().timers == before end))
    end)
  end)

  it("channel and semaphore waits leave the line", function()
    run(function()
      local ch = tide.channel(0)
      cancelled(ch:recv(), "r")
      cancelled(ch:send(1), "s")
      -- The cancelled waiters are gone: a new pair meets.
      local got = ch:recv()
      assert.is_false(ch:send(2):cancel())
      assert.equal(2, got:await())
      local sem = tide.semaphore(1)
      sem:acquire():await()
      cancelled(sem:acquire(), "a")
      sem:release()
      assert.equal("fulfilled", sem:acquire():state())
      -- A wait that needs none is settled already: cancel does nothing.
      local c1 = tide.channel(1)
      c1:send(5)
      local r = c1:recv()
      assert.equal("fulfilled", r:state())
      assert.is_false(r:cancel())
    end)
  end)

  it("collect and each stop their stream", function()
    run(function()
      local ch = tide.channel(1)
      cancelled(ch:collect(), "c")
      cancelled(ch:each(function() end), "e")
      ch:close()
    end)
  end)

  it("tide.fs: the file is closed and the pool drains", function()
    local dir = helper.tmpdir()
    local path = dir .. "/big"
    local f = assert(io.open(path, "wb"))
    f:write(("x"):rep(1 << 20):rep(16))
    f:close()
    run(function()
      local fds = helper.open_fds()
      local p = tide.fs.read(path)
      cancelled(p, "enough")
      -- (The close is a request of its own, which may start after the
      -- cancelled read has left the pool.)
      assert.is_true(wait_for(function() return core.stats().fs == 0 and helper.open_fds() == fds end))
    end)
    os.remove(path)
    os.remove(dir)
  end)

  it("an HTTP request: the server sees the connection close", function()
    run(function()
      local k = helper.key("cancel")
      local p = http.get(flt.url .. "/never?key=" .. k)
      assert.is_true(wait_for(function()
        return http.get(flt.url .. "/state?key=" .. k):await():json().state == "open"
      end))
      cancelled(p, "enough")
      assert.is_true(wait_for(function()
        return http.get(flt.url .. "/state?key=" .. k):await():json().state == "closed"
      end))
    end)
  end)

  it("tide.race losers can be cancelled by hand", function()
    run(function()
      local before = core.stats().timers
      local slow, fast = tide.sleep(30), tide.sleep(0)
      tide.race { slow, fast }:await()
      slow:cancel()
      assert.equal(before, core.stats().timers)
    end)
  end)
end)
