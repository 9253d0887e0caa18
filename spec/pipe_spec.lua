-- tide.pipe: any stream into a file, a channel or a function, with
-- back-pressure and bounded memory (DESIGN.md, "Files as streams, and pipes").
local helper = require "spec.helper"
local tide = require "tide"

local lfs = require "lfs"

local run, rejection, misuse = helper.run, helper.rejection, helper.misuse

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local kib = tonumber(f:read("a"):match("VmRSS:%s+(%d+) kB"))
  f:close()
  return kib
end

describe("tide.pipe", function()
  helper.setup()
  local dir
  before_each(function() dir = helper.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function put(name, data)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(data)
    f:close()
    return dir .. "/" .. name
  end

  local function contents(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end

  local DATA = ("0123456789abcdef"):rep(40000) -- 640,000 bytes

  it("copies a file to a file by paths, with progress", function()
    local src = put("in", DATA)
    local reports = {}
    local n = run(function()
      return tide.pipe(src, dir .. "/out", { on_progress = function(b) reports[#reports + 1] = b end }):await()
    end)
    assert.equal(#DATA, n)
    assert.equal(DATA, contents(dir .. "/out"))
    assert.is_true(#reports >= 2)
    assert.equal(#DATA, reports[#reports])
    for i = 2, #reports do assert.is_true(reports[i] > reports[i - 1]) end
  end)

  it("copies between open files from their positions, and leaves them open", function()
    local src = put("in", "skip:" .. DATA)
    run(function()
      local from <close> = tide.fs.open(src):await()
      local to <close> = tide.fs.open(dir .. "/out", "w"):await()
      from:seek("set", 5)
      to:write(">")
      assert.equal(#DATA, tide.pipe(from, to):await())
      assert.matches("open at", tostring(from))
      assert.matches("open at " .. (#DATA + 1), tostring(to))
    end)
    assert.equal(">" .. DATA, contents(dir .. "/out"))
  end)

  it("moves a stream into a channel, with back-pressure", function()
    run(function()
      local ch = tide.channel(1)
      local produced = 0
      local source = tide.generator(function(yield)
        for i = 1, 5 do
          produced = i
          yield(("x"):rep(i))
        end
      end)
      local p = tide.pipe(source, ch)
      tide.sleep(0.02):await()
      -- One chunk in the channel, one in the pipe's hands (waiting to be
      -- sent); nothing more was produced.
      assert.is_true(produced <= 3, "produced " .. produced)
      local got = {}
      for _ = 1, 5 do got[#got + 1] = ch:recv():await() end
      assert.equal(15, p:await())
      assert.same({ "x", "xx", "xxx", "xxxx", "xxxxx" }, got)
    end)
  end)

  it("calls a function sink with each chunk and waits for it", function()
    local src = put("in", DATA)
    run(function()
      local parts, in_sink = {}, false
      local n = tide.pipe(src, function(chunk)
        assert.is_false(in_sink)
        in_sink = true
        tide.sleep(0):await()
        parts[#parts + 1] = chunk
        in_sink = false
      end):await()
      assert.equal(#DATA, n)
      assert.equal(DATA, table.concat(parts))
      -- A promise the sink returns is awaited too; a function source works.
      local items, sent = { "a", "b", "c" }, {}
      local i = 0
      local ch = tide.channel(0)
      local consumer = tide.spawn(function() for v in ch do sent[#sent + 1] = v end end)
      assert.equal(3, tide.pipe(function() i = i + 1; return items[i] end, function(c) return ch:send(c) end):await())
      ch:close()
      consumer:await()
      assert.same(items, sent)
    end)
  end)

  it("cancelled mid-pipe, closes the files it opened and stops the source", function()
    local src = put("in", DATA)
    local before = helper.open_fds()
    run(function()
      local ctl = tide.abort_controller()
      local chunks = 0
      local p = tide.pipe(src, dir .. "/out", { signal = ctl.signal, on_progress = function()
        chunks = chunks + 1
        if chunks == 1 then ctl:abort("enough") end
      end })
      assert.equal("enough", rejection(p))
      -- A task cancelled while the sink waits.
      local stopped = false
      local gen = tide.generator(function(yield)
        local ok = pcall(function() for _ = 1, 1000 do yield("z") end end)
        stopped = not ok
      end)
      local t = tide.pipe(gen, function() tide.sleep(10):await() end)
      tide.sleep(0.01):await()
      t:cancel("bye")
      assert.equal("cancelled", rejection(t).kind)
      assert.is_true(helper.wait_for(function() return stopped end))
      -- The close of the output file may still be in libuv's pool.
      helper.wait_for(function() return helper.open_fds() == before end)
    end)
    assert.equal(before, helper.open_fds())
  end)

  it("leaves alone what it did not open when it fails", function()
    run(function()
      local to <close> = tide.fs.open(dir .. "/out", "w"):await()
      local err = rejection(tide.pipe(tide.generator(function(yield)
        yield("ok")
        error(tide.error("io", "source broke"))
      end), to))
      assert.equal("io", err.kind)
      assert.matches("open at 2", tostring(to))
      local ch = tide.channel(4)
      rejection(tide.pipe(function() error("nope") end, ch))
      assert.is_false(ch.closed)
    end)
  end)

  it("rejects with the sink's error, and closes the source", function()
    local src = put("in", DATA)
    run(function()
      local err = rejection(tide.pipe(src, "/dev/full"))
      assert.equal("fs", err.kind)
      assert.equal("ENOSPC", err.code)
      local closed = false
      local source = tide.stream.new(function() return "x" end, function() closed = true end)
      err = rejection(tide.pipe(source, function() error(tide.error("sink", "full")) end))
      assert.equal("sink", err.kind)
      assert.is_true(closed)
      err = rejection(tide.pipe(tide.stream.from { 1 }, dir .. "/out"))
      assert.equal("usage", err.kind)
      assert.equal("tide.pipe: a chunk for a file must be a string (got number)", err.message)
    end)
  end)

  it("rejects with the source's error: a missing file leaves no output", function()
    run(function()
      local err = rejection(tide.pipe(dir .. "/missing", dir .. "/out"))
      assert.equal("fs", err.kind)
      assert.equal("ENOENT", err.code)
      assert.is_false(tide.fs.exists(dir .. "/out"):await())
      err = rejection(tide.pipe(dir, dir .. "/out"))
      assert.equal("EISDIR", err.code)
    end)
  end)

  it("raises for misuse", function()
    assert.equal("bad argument #1 to 'pipe' (path, tide.file, stream or function expected, got number)",
      misuse(function() return tide.pipe(1, print) end))
    assert.equal("bad argument #2 to 'pipe' (path, tide.file, channel or function expected, got table)",
      misuse(function() return tide.pipe("x", {}) end))
    assert.equal("bad option 'on_progress' to 'pipe' (function expected, got number)",
      misuse(function() return tide.pipe("x", "y", { on_progress = 1 }) end))
    assert.equal("tide.pipe: unknown option 'chunk'", misuse(function() return tide.pipe("x", "y", { chunk = 1 }) end))
  end)

  it("keeps memory bounded on a 64 MiB pipe", function()
    local src = dir .. "/big"
    do
      local block = ("y"):rep(1024 * 1024)
      local f = assert(io.open(src, "wb"))
      for _ = 1, 64 do f:write(block) end
      f:close()
    end
    collectgarbage()
    local base, peak = rss_kib(), 0
    local n = helper.run_slow(function()
      return tide.pipe(src, dir .. "/copy", { on_progress = function() peak = math.max(peak, rss_kib()) end }):await()
    end, 60)
    assert.equal(64 * 1024 * 1024, n)
    assert.equal(64 * 1024 * 1024, lfs.attributes(dir .. "/copy", "size"))
    if helper.RSS_MEANINGFUL then
      local grew = (peak - base) / 1024
      assert.is_true(grew < 32, ("RSS grew by %.1f MiB for a 64 MiB pipe"):format(grew))
    end
  end)
end)

describe("tide.pipe from an HTTP response", function()
  local servers = require "spec.support.servers"
  local ngx
  lazy_setup(function() ngx = servers.nginx() end)
  lazy_teardown(function() servers.stop_all() end)
  helper.setup()

  it("writes a streamed body to a file, with progress", function()
    local dir = helper.tmpdir()
    local path = dir .. "/16m.bin"
    local last = 0
    local n = helper.run_slow(function()
      local res <close> = tide.http.get(ngx.http .. "/16m.bin", { stream = true }):await()
      return tide.pipe(res:chunks(), path, { on_progress = function(b) last = b end }):await()
    end, 60) -- 16 MiB in chunks: a full collection at every await (GC stress) takes its time
    assert.equal(16 * 1024 * 1024, n)
    assert.equal(n, last)
    local f = assert(io.open(path, "rb"))
    local body = f:read("a")
    f:close()
    os.execute("rm -rf " .. dir)
    assert.is_true(body == servers.pattern(16 * 1024 * 1024), "the file differs from the body")
  end)

  it("stops the transfer when the sink fails", function()
    helper.run_slow(function()
      local res <close> = tide.http.get(ngx.http .. "/16m.bin", { stream = true }):await()
      local err = rejection(tide.pipe(res:chunks(), "/dev/full"))
      assert.equal("fs", err.kind)
      assert.equal("ENOSPC", err.code)
    end)
  end)
end)
