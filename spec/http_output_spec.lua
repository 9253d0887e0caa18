-- HTTP bodies that never become Lua strings (DESIGN.md "Files as streams,
-- and pipes"): `output = path | file` and `body = file | {file = path}`,
-- against the spec nginx (its /upload/ location stores what is PUT) and the
-- fault server. Contents are compared byte for byte (sha256).
local helper = require "spec.helper"
local tide = require "tide"
local servers = require "spec.support.servers"

local http = tide.http
local MiB = 1024 * 1024
local run = helper.run_slow
local rejection, key = helper.rejection, helper.key

local ngx, flt, dir

local function sha256(path)
  local p = assert(io.popen(servers.CLEAN_ENV .. "sha256sum " .. path))
  local out = p:read("a")
  p:close()
  return out:match("^(%x+)")
end

local function size_of(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- A file of n random bytes at dir/name (made once).
local made = {}
local function random_file(name, n)
  local path = dir .. "/" .. name
  if not made[path] then
    assert(os.execute(("head -c %d /dev/urandom > %s"):format(n, path)))
    made[path] = true
  end
  return path
end

-- A file of n random bytes served by nginx as /name.
local function served(name, n)
  local path = ngx.dir .. "/www/" .. name
  if not made[path] then
    assert(os.execute(("head -c %d /dev/urandom > %s"):format(n, path)))
    made[path] = true
  end
  return ngx.http .. "/" .. name, path
end

local function status_mib(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

-- How far the peak RSS rose above the RSS before fn (nil: cannot tell).
local function peak_growth(fn)
  collectgarbage()
  local f = io.open("/proc/self/clear_refs", "w")
  local reset = f and f:write("5") and f:close()
  local before = status_mib("VmRSS")
  fn()
  return reset and status_mib("VmHWM") - before or nil
end

-- zlib's Adler-32 of s (the fault server's body_adler32).
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end

local function hits(k)
  return tonumber(http.get(flt.url .. "/hits?key=" .. k):await().body)
end

-- Waits until the descriptors are back to n at most (a write in libuv's
-- pool when a request is cancelled closes its descriptor when it ends; the
-- stopped request's connection, maybe one the client had pooled, closes).
local function fds_back_to(n)
  helper.wait_for(function() return helper.open_fds() <= n end)
  assert.is_true(helper.open_fds() <= n, ("%d fds open, %d before"):format(helper.open_fds(), n))
end

describe("tide.http with files", function()
  lazy_setup(function()
    ngx = servers.nginx()
    flt = servers.faults()
    dir = helper.tmpdir()
  end)
  lazy_teardown(function()
    servers.stop_all()
    os.execute("rm -rf " .. dir)
  end)
  helper.setup()

  describe("output =", function()
    it("writes the body to a path, byte for byte; the response has no body", function()
      local url, src = served("out16.bin", 16 * MiB)
      local out = dir .. "/down16.bin"
      run(function()
        local res = http.get(url, { output = out }):await()
        assert.equal(200, res.status)
        assert.is_nil(res.body)
        assert.equal(16 * MiB, res.bytes)
        assert.equal(out, res.output)
        assert.equal(("tide.http.response (200, %s, %d bytes written to %s)"):format(url, 16 * MiB, out),
          tostring(res))
        assert.equal("application/octet-stream", res.headers["content-type"])
        local err = helper.raised(function() res:json() end)
        assert.matches("went to a file", tostring(err))
      end)
      assert.equal(sha256(src), sha256(out))
    end)

    it("creates the file, or truncates what was there", function()
      local out = dir .. "/trunc.json"
      servers.spit(out, string.rep("x", 10000))
      run(function()
        local res = http.get(ngx.http .. "/hello.json", { output = out, decompress = false }):await()
        assert.equal(#servers.HELLO, res.bytes)
      end)
      assert.equal(servers.HELLO, servers.slurp(out))
    end)

    it("an error answer keeps its body in res.body and leaves the file as it was", function()
      local out = dir .. "/keep.txt"
      servers.spit(out, "precious")
      run(function()
        local res = http.get(flt.url .. "/status/404", { output = out }):await()
        assert.equal(404, res.status)
        assert.equal("status 404\n", res.body)
        assert.is_nil(res.bytes)
        assert.is_nil(res.output)
        -- bounded by max_body_size as any body
        local err = rejection(http.get(flt.url .. "/status/500", { output = out, max_body_size = 4 }))
        assert.equal("body_too_large", err.kind)
      end)
      assert.equal("precious", servers.slurp(out))
      -- a path that did not exist is not left behind
      local fresh = dir .. "/fresh404.txt"
      run(function() assert.equal(404, http.get(flt.url .. "/status/404", { output = fresh }):await().status) end)
      assert.is_nil(size_of(fresh))
    end)

    it("an empty 2xx body empties the file", function()
      local out = dir .. "/empty204.txt"
      servers.spit(out, "old")
      run(function() assert.equal(0, http.get(flt.url .. "/status/204", { output = out }):await().bytes) end)
      assert.equal("", servers.slurp(out))
    end)

    it("{file =, offset =}: parallel requests fill ranges of one file", function()
      local url, src = served("ranges.bin", 4 * MiB + 123)
      local out = dir .. "/ranges.bin"
      servers.spit(out, string.rep("z", 16))
      run(function()
        local f <close> = tide.fs.open(dir .. "/ranges2.bin", "w"):await()
        local size, part, ps = 4 * MiB + 123, MiB, {}
        for at = 0, size - 1, part do
          local last = math.min(at + part, size) - 1
          local range = { Range = ("bytes=%d-%d"):format(at, last) }
          ps[#ps + 1] = http.get(url, { headers = range, output = { file = out, offset = at } })
          ps[#ps + 1] = http.get(url, { headers = range, output = { file = f, offset = at } })
        end
        for _, r in ipairs(tide.all(ps):await()) do assert.equal(206, r.status) end
        assert.equal(0, f:seek("cur"):await())
      end)
      assert.equal(sha256(src), sha256(out))
      assert.equal(sha256(src), sha256(dir .. "/ranges2.bin"))
    end)

    it("writes to a tide.file at its position and leaves it open there", function()
      local out = dir .. "/obj.bin"
      run(function()
        local f <close> = tide.fs.open(out, "w+"):await()
        f:write("head:"):await()
        local res = http.get(ngx.http .. "/1k.bin", { output = f }):await()
        assert.equal(1024, res.bytes)
        assert.equal(f, res.output)
        assert.equal(5 + 1024, f:seek("cur"):await())
        f:write(":tail"):await()
        f:seek("set", 0):await()
        assert.equal("head:" .. servers.pattern(1024) .. ":tail", f:read(4096):await())
      end)
    end)

    it("reports progress", function()
      local url = served("out4.bin", 4 * MiB)
      local last
      run(function()
        http.get(url, { output = dir .. "/progress.bin", on_progress = function(now, total)
          last = { now, total }
        end }):await()
      end)
      assert.same({ 4 * MiB, 4 * MiB }, last)
    end)

    it("downloads 64 MiB to a file in bounded memory", function()
      local url, src = served("out64.bin", 64 * MiB)
      local out = dir .. "/down64.bin"
      local grew = peak_growth(function()
        run(function()
          assert.equal(64 * MiB, http.get(url, { output = out }):await().bytes)
        end, 60)
      end)
      assert.equal(sha256(src), sha256(out))
      if grew and helper.RSS_MEANINGFUL then
        assert.is_true(grew < 24, ("RSS grew by %.1f MiB for a 64 MiB download"):format(grew))
      end
    end)

    it("a server that closes mid-body: a network rejection and the partial file", function()
      local out = dir .. "/partial.bin"
      run(function()
        local err = rejection(http.get(flt.url .. "/reset", { output = out }))
        assert.equal("network", err.kind)
      end)
      assert.equal(string.rep("x", 500), servers.slurp(out))
    end)

    it("a full disk rejects with kind fs and stops the transfer", function()
      local k = key("full")
      run(function()
        local err = rejection(http.get(flt.url .. "/big?mb=256&key=" .. k, { output = "/dev/full" }))
        assert.equal("fs", err.kind)
        assert.equal("ENOSPC", err.code)
        assert.equal("/dev/full", err.path)
        assert.equal("write", err.syscall)
        helper.wait_for(function()
          return http.get(flt.url .. "/state?key=" .. k):await():json().state == "closed"
        end)
        local st = http.get(flt.url .. "/state?key=" .. k):await():json()
        assert.is_true(st.sent < 256 * MiB)
      end)
    end)

    it("a directory or a missing directory is an fs rejection before anything is sent", function()
      local k = key("outdir")
      run(function()
        local err = rejection(http.get(flt.url .. "/echo?key=" .. k, { output = dir }))
        assert.equal("fs", err.kind)
        assert.equal("EISDIR", err.code)
        err = rejection(http.get(flt.url .. "/echo?key=" .. k, { output = dir .. "/no/such/dir/x" }))
        assert.equal("fs", err.kind)
        assert.equal("ENOENT", err.code)
        assert.equal(0, hits(k))
      end)
    end)

    it("a closed or read-only tide.file is refused", function()
      local path = random_file("ro.bin", 10)
      run(function()
        local f = tide.fs.open(path, "r"):await()
        assert.equal("EBADF", rejection(http.get(ngx.http .. "/1k.bin", { output = f })).code)
        f:close():await()
        assert.equal("closed", rejection(http.get(ngx.http .. "/1k.bin", { output = f })).kind)
      end)
    end)

    for _, how in ipairs { "cancel", "signal", "timeout" } do
      it("stopped mid-transfer (" .. how .. "): closes what it opened", function()
        local out = dir .. "/stopped-" .. how .. ".bin"
        run(function()
          -- (The client's first request opens its own descriptors.)
          http.get(flt.url .. "/count"):await()
          local fds = helper.open_fds()
          local ctl = tide.abort_controller()
          -- (The timeout's body comes slowly: a fast machine takes 512 MiB
          -- from the loopback within 0.3 s.)
          local url = how == "timeout" and flt.url .. "/drip?n=1000&ms=10" or flt.url .. "/big?mb=512"
          local p = http.get(url, { output = out, signal = ctl.signal, timeout = how == "timeout" and 0.3 or nil })
          if how ~= "timeout" then
            helper.wait_for(function() return (size_of(out) or 0) > MiB end)
            if how == "cancel" then p:cancel() else ctl:abort() end
          end
          local err = rejection(p)
          assert.equal(how == "timeout" and "timeout" or "cancelled", err.kind)
          fds_back_to(fds)
        end)
        assert.is_true(size_of(out) < 512 * MiB)
      end)
    end

    it("is written again from the start by each retry", function()
      local k = key("retry-out")
      local out = dir .. "/retry.txt"
      run(function()
        local client = http.client { retry = { attempts = 3, base = 0.01, jitter = 0 } }
        local res = client:get(flt.url .. "/flaky?fail=2&key=" .. k, { output = out }):await()
        client:close()
        assert.equal(200, res.status)
        assert.equal(3, hits(k))
      end)
      assert.equal("ok after 2\n", servers.slurp(out))
    end)

    it("refuses stream = true and things that are not files", function()
      local err = helper.raised(function() http.get(ngx.http, { output = dir .. "/x", stream = true }) end)
      assert.matches("give only one of output and stream", tostring(err))
      err = helper.raised(function() http.get(ngx.http, { output = 42 }) end)
      assert.matches("bad option 'output' %(a path or a tide.file expected, got number%)", tostring(err))
      err = helper.raised(function() http.get(ngx.http, { output = "" }) end)
      assert.matches("bad option 'output'", tostring(err))
      err = helper.raised(function() http.get(ngx.http, { output = { file = "x", offset = -1 } }) end)
      assert.matches("bad option 'output' %(offset", tostring(err))
      err = helper.raised(function() http.get(ngx.http, { output = { file = "x", at = 1 } }) end)
      assert.matches("unknown field 'at'", tostring(err))
    end)
  end)

  describe("body = a file", function()
    it("uploads {file = path} with its Content-Length, byte for byte", function()
      local src = random_file("up1.bin", 3 * MiB + 7)
      run(function()
        local res = http.put(ngx.http .. "/upload/up1.bin", { body = { file = src } }):await()
        assert.is_true(res.status == 201 or res.status == 204, tostring(res.status))
      end)
      assert.equal(sha256(src), sha256(ngx.dir .. "/www/upload/up1.bin"))
    end)

    it("sends a Content-Length, not chunks", function()
      local src = random_file("up-echo.bin", 100000)
      run(function()
        local echo = http.post(flt.url .. "/echo", { body = { file = src } }):await():json()
        assert.equal("100000", echo.headers["content-length"])
        assert.is_false(echo.chunked)
        assert.equal(100000, echo.body_len)
        assert.equal(adler32(servers.slurp(src)), echo.body_adler32)
      end)
    end)

    it("uploads a tide.file from its position, which stays where it was", function()
      local src = random_file("up-obj.bin", 200000)
      run(function()
        local f <close> = tide.fs.open(src, "r"):await()
        f:seek("set", 1000):await()
        local echo = http.post(flt.url .. "/echo", { body = f }):await():json()
        assert.equal("199000", echo.headers["content-length"])
        assert.equal(adler32(servers.slurp(src):sub(1001)), echo.body_adler32)
        assert.equal(1000, f:seek("cur"):await())
      end)
    end)

    it("uploads an empty file", function()
      local src = dir .. "/empty"
      servers.spit(src, "")
      run(function()
        local echo = http.post(flt.url .. "/echo", { body = { file = src } }):await():json()
        assert.equal("0", echo.headers["content-length"])
        assert.equal("", echo.body)
      end)
    end)

    it("reports upload progress", function()
      local src = random_file("up-progress.bin", 2 * MiB)
      local last
      run(function()
        http.put(ngx.http .. "/upload/progress.bin", { body = { file = src },
          on_progress = function(_, _, up, up_total) last = { up, up_total } end }):await()
      end)
      assert.same({ 2 * MiB, 2 * MiB }, last)
    end)

    it("uploads 64 MiB in bounded memory", function()
      local src = random_file("up64.bin", 64 * MiB)
      local grew = peak_growth(function()
        run(function()
          local res = http.put(ngx.http .. "/upload/up64.bin", { body = { file = src } }):await()
          assert.is_true(res.status == 201 or res.status == 204)
        end, 60)
      end)
      assert.equal(sha256(src), sha256(ngx.dir .. "/www/upload/up64.bin"))
      if grew and helper.RSS_MEANINGFUL then
        assert.is_true(grew < 24, ("RSS grew by %.1f MiB for a 64 MiB upload"):format(grew))
      end
    end)

    it("a missing file or a directory is an fs rejection before anything is sent", function()
      local k = key("badbody")
      run(function()
        local err = rejection(http.post(flt.url .. "/echo?key=" .. k, { body = { file = dir .. "/missing" } }))
        assert.equal("fs", err.kind)
        assert.equal("ENOENT", err.code)
        assert.equal(dir .. "/missing", err.path)
        err = rejection(http.post(flt.url .. "/echo?key=" .. k, { body = { file = dir } }))
        assert.equal("fs", err.kind)
        assert.equal("EISDIR", err.code)
        local f = tide.fs.open(dir .. "/wo.bin", "w"):await()
        err = rejection(http.post(flt.url .. "/echo?key=" .. k, { body = f }))
        assert.equal("EBADF", err.code)
        f:close():await()
        assert.equal(0, hits(k))
      end)
    end)

    it("restarts from its offset at each retry", function()
      local src = random_file("up-retry.bin", 5000)
      local k = key("retry-body")
      run(function()
        local client = http.client { retry = { attempts = 3, base = 0.01, jitter = 0 } }
        local f <close> = tide.fs.open(src, "r"):await()
        f:seek("set", 10):await()
        local res = client:post(flt.url .. "/flaky?echo=1&fail=2&key=" .. k, { body = f }):await()
        client:close()
        local len, sum = res.body:match("len=(%d+) adler=(%d+)")
        assert.equal("ok after 2", res.body:match("^(ok after %d+)"))
        assert.equal("4990", len)
        assert.equal(adler32(servers.slurp(src):sub(11)), tonumber(sum))
        assert.equal(3, hits(k))
      end)
    end)

    it("cancelled mid-upload: closes what it opened", function()
      local src = random_file("up-cancel.bin", 64 * MiB)
      run(function()
        http.get(flt.url .. "/count"):await()
        local fds = helper.open_fds()
        local p = http.post(flt.url .. "/never", { body = { file = src }, timeout = 0.5 })
        assert.equal("timeout", rejection(p).kind)
        local q = http.post(flt.url .. "/never", { body = { file = src } })
        tide.sleep(0.2):await()
        q:cancel()
        assert.equal("cancelled", rejection(q).kind)
        fds_back_to(fds)
      end)
    end)

    it("refuses content_length and unknown fields", function()
      local err = helper.raised(function() http.post(ngx.http, { body = { file = "x" }, content_length = 3 }) end)
      assert.matches("a file body is sent with the file's size", tostring(err))
      err = helper.raised(function() http.post(ngx.http, { body = { file = "x", mode = "r" } }) end)
      assert.matches("unknown field 'mode'", tostring(err))
      err = helper.raised(function() http.post(ngx.http, { body = { file = "x", offset = 1.5 } }) end)
      assert.matches("offset: a byte count expected", tostring(err))
    end)

    it("{file =, offset =, length =}: sends that range, which must be in the file", function()
      local src = random_file("range.bin", 100000)
      run(function()
        local body = { file = src, offset = 1000, length = 5000 }
        local echo = http.post(flt.url .. "/echo", { body = body }):await():json()
        assert.equal(5000, echo.body_len)
        assert.equal("5000", echo.headers["content-length"])
        local whole = servers.slurp(src)
        assert.equal(adler32(whole:sub(1001, 6000)), echo.body_adler32)
        echo = http.post(flt.url .. "/echo", { body = { file = src, offset = 99000 } }):await():json()
        assert.equal(1000, echo.body_len)
        local err = rejection(http.post(flt.url .. "/echo", { body = { file = src, offset = 99000, length = 1001 } }))
        assert.equal("fs", err.kind)
        assert.matches("passes the end of the file", err.message)
      end)
    end)
  end)
end)
