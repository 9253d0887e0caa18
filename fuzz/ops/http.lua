--- fuzz/ops/http.lua: operations for HTTP: requests, verbs, clients and responses, CR/LF/NUL in
-- every string option, clients closed from their own callbacks; only to 127.0.0.1.

return function(fz)
  local tide = fz.tide
  local op, call, call_np, A, G, P, A_stream, F = fz.op, fz.call, fz.call_np, fz.A, fz.G, fz.P, fz.A_stream, fz.F
  local kind_of, bounded_source, all_streams = fz.kind_of, fz.bounded_source, fz.all_streams
  local client_list, all_clients, follow, rand, chance = fz.client_list, fz.all_clients, fz.follow, fz.rand, fz.chance
  local choose, TMP, BASE, CLIENT, RESP = fz.choose, fz.TMP, fz.BASE, fz.CLIENT, fz.RESP

  -- Arguments

  local HOSTPORT = BASE and BASE:match("^http://(.*)$") or "127.0.0.1:1"

  local function url(relative)
    local r = rand(24)
    if BASE then
      if r <= 7 then return BASE .. "/api/fast" end
      if r <= 9 then return BASE .. "/api/users/7" end
      if r == 10 then return BASE .. "/api/items/" .. rand(1000) end
      if r == 11 then return BASE .. "/files/big.bin" end
      if r == 12 then return BASE .. "/nope" end
      if r == 13 then return BASE .. "/api/fast?x=1&y=%zz" end
    end
    if relative and r <= 16 then return choose { "/api/fast", "api/fast", "//api/users/7", "", "/nope" } end
    return choose {
      "http://127.0.0.1:1/", "ftp://x", "", "http://", "https://" .. HOSTPORT .. "/api/fast",
      "http://[::1", "http://" .. HOSTPORT .. "/a b", "HTTP://" .. HOSTPORT .. "/api/fast",
      "http://" .. HOSTPORT .. "/" .. ("x"):rep(9000), "http://user:pw@" .. HOSTPORT .. "/api/fast",
      "http://127.0.0.1:99999/", "http://127.0.0.1:" .. HOSTPORT:match(":(%d+)$") .. "\0/api/fast",
      42, {}, "file:///etc/passwd", "http://127.0.0.1/" }
  end

  local function headers()
    return choose {
      { ["X-Fuzz"] = "1" }, { ["Bad Name"] = "x" }, { ["X-Inj"] = "a\r\nInjected: yes" }, { ["X"] = {} },
      { [1] = "x" }, { ["X-Num"] = 42 }, { ["Content-Type"] = "text/plain", Accept = "*/*" }, { [""] = "x" },
      { ["X-Nul"] = "a\0b" }, {},
    }
  end

  -- An upload body. Never a pool function: an endless source (one that never
  -- returns nil and never awaits) would be pulled forever.
  local function upload_body()
    local r = rand(6)
    local v
    if r == 1 then return bounded_source(true) end
    if r == 2 then
      local ok, s = call_np("stream.from", tide.stream.from, { "a", "b", chance(0.2) and 42 or "c" })
      if ok then all_streams[s] = true; return s end
      return nil
    end
    if r == 3 then v = A_stream() elseif r == 4 then return ("y"):rep(choose { 10, 300000 }) else v = P() end
    if type(v) == "function" or kind_of(v) == "tbl" then return bounded_source(true) end
    return v
  end

  -- Where `output =` writes and what a file body reads: paths inside TMP
  -- only (a directory, a missing one, /dev/full for a full disk), or a
  -- tide.file the fs ops opened (they open inside TMP too).
  local function a_file()
    local v = G("file")
    if getmetatable(v) == tide.fs.File then return v end
  end
  local function output_target()
    if chance(0.2) then
      return { file = choose { TMP .. "/http-out.bin", a_file() or TMP }, offset = choose { 0, 5, 1 << 20, -1, 1.5 } }
    end
    return choose { TMP .. "/http-out.bin", TMP .. "/http-out.bin", TMP, TMP .. "/no/such/dir/x", "/dev/full",
                    "", 42 } or nil
  end
  local function file_body()
    if chance(0.3) then return a_file() end
    local b = { file = choose { TMP .. "/http-out.bin", TMP .. "/a", TMP, TMP .. "/missing" } }
    if chance(0.3) then b.offset, b.length = choose { 0, 10, 1 << 30, -1 }, choose { nil, 0, 100, 1 << 30, 2.5 } end
    return b
  end

  local HTTP_FIELDS = {
    output = function() return chance(0.3) and a_file() or output_target() end,
    method = function() return choose { "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "BREW", "",
                                         "G E T", "\0", P() } end,
    query = function() return choose { { a = 1, b = "x y" }, { list = { 1, 2, 3 } }, { [1] = "x" }, { a = { {} } },
                                        { a = true }, P() } end,
    headers = function() return chance(0.9) and headers() or P() end,
    body = function() if chance(0.2) then return file_body() end return upload_body() end,
    json = function()
      local cyc = {}
      cyc.c = cyc
      return choose { { a = 1 }, cyc, { f = print }, 0 / 0, "s", P() }
    end,
    form = function() return choose { { a = "1", b = 2 }, { a = {} }, P() } end,
    timeout = function() return choose { 0.05, 1, 5, 0, -1, 0 / 0, math.huge, 1e308, 0.0001, P() } end,
    connect_timeout = function() return choose { 0.05, 1, 0, -1, 0 / 0, math.huge, P() } end,
    follow = function() return choose { true, false, P() } end,
    max_redirects = function() return choose { 0, 1, 10, -1, -5, 0 / 0, 1e300, P() } end,
    verify = function() return choose { true, false, P() } end,
    ca_file = function() return choose { TMP .. "/missing.pem", TMP .. "/a", "", P() } end,
    proxy = function() return choose { "http://127.0.0.1:1", "", "socks5://127.0.0.1:1", P() } end,
    auth = function() return choose { { user = "u", password = "p" }, { user = 1 }, {}, P() } end,
    aws_sigv4 = function()
      return choose { { region = "us-east-1", service = "s3", key = "k", secret = "s" }, { region = 1 },
                      { key = "k", secret = "s" }, P() }
    end,
    http_version = function() return choose { "1.1", "1.0", "2", "2-prior-knowledge", "3", "x", P() } end,
    signal = function() return G("signal") end,
    stream = function() return choose { true, false, P() } end,
    on_progress = function() return F() end,
    max_body_size = function() return choose { 10, 1e9, 0, -5, math.huge, 0 / 0, 1.5, P() } end,
    buffer_size = function() return choose { 1024, 0, -1, 0 / 0, 1e12, 16, P() } end,
    decompress = function() return choose { true, false, P() } end,
    retry = function()
      return choose { { attempts = 2, base = 0.001 }, { attempts = 0 }, { bogus = 1 }, { attempts = 3, base = 0 }, P() }
    end,
  }
  local HTTP_FIELD_NAMES = {}
  for k in pairs(HTTP_FIELDS) do HTTP_FIELD_NAMES[#HTTP_FIELD_NAMES + 1] = k end
  table.sort(HTTP_FIELD_NAMES)

  local function http_opts(with_url)
    if chance(0.06) then return P() end
    local o = {}
    if with_url and chance(0.92) then o.url = url() end
    if chance(0.5) then
      -- a plausible request
      if chance(0.3) then o.stream = true end
      if chance(0.2) then o.method = choose { "GET", "POST", "HEAD" } end
      if chance(0.1) then o.signal = G("signal") end
      if chance(0.1) then o.max_body_size = choose { 10, 100000 } end
      if chance(0.1) then o.on_progress = F() end
      if chance(0.05) and not o.stream then o.output = output_target() end
      return o
    end
    for _, k in ipairs(HTTP_FIELD_NAMES) do
      if chance(0.07) then o[k] = HTTP_FIELDS[k]() end
    end
    if chance(0.3) then o.timeout = choose { 0.2, 1, 2 } end
    if chance(0.03) then o[choose { "bogus", 1, true }] = 1 end
    return o
  end

  local function client_opts()
    if chance(0.1) then return P() end
    local o = {}
    if chance(0.7) then o.base_url = choose { BASE or "http://127.0.0.1:1", (BASE or "") .. "/api/", "ftp://x", "" } end
    if chance(0.3) then o.headers = headers() end
    if chance(0.5) then o.timeout = choose { 0.5, 2, 0, -1, 0 / 0, math.huge } end
    if chance(0.2) then o.max_connections = choose { 1, 4, 0, -1, 0 / 0, 1e300 } end
    if chance(0.2) then o.max_per_host = choose { 1, 2, 0, -1, 0 / 0, 1e300 } end
    if chance(0.2) then o.retry = choose { { attempts = 2, base = 0.001 }, { attempts = 0 }, { bogus = 1 } } end
    if chance(0.03) then o.bogus = 1 end
    return o
  end

  -- Operations

  local VERBS = { "get", "post", "put", "patch", "delete", "head" }

  op("http.request", 3, function()
    local ok, p = call("http.request", tide.http.request, http_opts(true))
    if ok and chance(0.8) then follow(p) end
  end)
  op("http.verb", 4, function()
    local v = choose(VERBS)
    local ok, p = call("http." .. v, tide.http[v], url(), chance(0.7) and http_opts(false) or nil)
    if ok and chance(0.8) then follow(p) end
  end)
  op("http.client", 1, function()
    call("http.client", tide.http.client, client_opts())
    while #client_list > 8 do
      local c = table.remove(client_list, 1)
      if pcall(CLIENT.close, c) then all_clients[c] = nil else client_list[#client_list + 1] = c; break end
    end
  end)
  op("client:request", 3, function()
    local v = choose { "request", "get", "post", "put", "patch", "delete", "head" }
    local ok, p
    if v == "request" then
      ok, p = call("client:request", CLIENT.request, A("client"), http_opts(true))
    else
      ok, p = call("client:" .. v, CLIENT[v], A("client"), url(true), chance(0.7) and http_opts(false) or nil)
    end
    if ok and chance(0.8) then follow(p) end
  end)
  op("client:close", 1, function() call("client:close", CLIENT.close, A("client")) end)
  op("http.close", 1, function() call("http.close", tide.http.close) end)
  op("response", 5, function()
    local res = A("response")
    local m = choose { "ok", "raise_for_status", "json", "header_values", "chunks", "lines", "close", "fields",
                       "headers", "tostring", "chunks", "lines" }
    if m == "fields" then
      call("res fields", function(r) return r.status, r.url, r.http_version, r.body, r.timings end, res)
    elseif m == "headers" then
      call("res.headers", function(r, k) return r.headers[k] end, res,
        choose { "content-type", "Content-Length", 1, P() })
    elseif m == "tostring" then
      call("tostring(res)", tostring, res)
    elseif m == "header_values" then
      call("res:header_values", RESP.header_values, res, choose { "server", "X-None", 42, P() })
    else
      local ok, s = call("res:" .. m, RESP[m], res)
      if ok and kind_of(s) == "stream" then all_streams[s] = true end
    end
  end)

  -- Hostile input (issue 15) -------------------------------------------------

  --- s with CR, LF or NUL spliced in (often with a header line after it),
  --- after its first `keep` bytes (default 0).
  local function poisoned(s, keep)
    keep = keep or 0
    local bad = choose { "\r\n", "\n", "\r", "\0", "\r\nInjected: yes", "\0/../../admin" }
    local at = keep + rand(#s - keep + 1) - 1
    return s:sub(1, at) .. bad .. s:sub(at + 1)
  end

  --- A URL poisoned after its host and port, never inside them: a host
  --- cut short by a NUL ("127.0.0.") would be looked up in the DNS, and
  --- the fuzzer talks to 127.0.0.1 only.
  local function poisoned_url(u)
    local origin = u:match("^%a+://[^/]*")
    return poisoned(u, origin and #origin or #u)
  end

  local SIGV4_FIELDS = { "region", "service", "key", "secret" }

  -- Every string option that reaches a request line or a header, each a
  -- way to poison one of them (named for the report).
  local POISON = {
    url = function(o) o.url = poisoned_url(o.url) end,
    method = function(o) o.method = poisoned(choose { "GET", "POST", "DELETE" }) end,
    header_name = function(o) o.headers = { [poisoned("X-Fuzz")] = "1" } end,
    header_value = function(o) o.headers = { ["X-Fuzz"] = poisoned("value") } end,
    auth_user = function(o) o.auth = { user = poisoned("admin"), password = "pw" } end,
    auth_password = function(o) o.auth = { user = "admin", password = poisoned("pw") } end,
    aws_sigv4 = function(o)
      local v4 = { region = "us-east-1", service = "s3", key = "AKID", secret = "s3cr3t" }
      local k = choose(SIGV4_FIELDS)
      v4[k] = poisoned(v4[k])
      o.aws_sigv4 = v4
    end,
    proxy = function(o) o.proxy = poisoned_url("http://127.0.0.1:1/") end,
    -- a client's defaults (the request goes through that client)
    client_base_url = function(o, co)
      co.base_url = poisoned_url((BASE or "http://127.0.0.1:1") .. "/api/")
      o.url = "/api/fast"
    end,
    client_header = function(_, co) co.headers = { ["X-Fuzz"] = poisoned("default") } end,
  }
  local POISON_NAMES = {}
  for k in pairs(POISON) do POISON_NAMES[#POISON_NAMES + 1] = k end
  table.sort(POISON_NAMES)

  local function settled_kind(e) return tide.is_error(e) and rawget(e, "kind") or type(e) end

  -- A request with CR, LF or NUL in one string option. Strict: it must be
  -- refused with a usage error (raised, or the rejection), never sent.
  local function poisoned_request(strict)
    local which = choose(POISON_NAMES)
    local o = { url = (BASE or "http://127.0.0.1:1") .. "/api/fast", timeout = 2 }
    local co = {}
    POISON[which](o, co)
    local ok, p
    if next(co) ~= nil then
      local c
      ok, c = fz.call_np("http.client (CR/LF/NUL)", tide.http.client, co)
      if ok and kind_of(c) == "client" then
        fz.put(c)
        ok, p = fz.call_np("client:request (CR/LF/NUL)", CLIENT.request, c, o)
      else
        p = c
      end
    elseif strict or chance(0.7) then
      ok, p = fz.call_np("http.request (CR/LF/NUL)", tide.http.request, o)
    else
      ok, p = fz.call_np("client:request (CR/LF/NUL)", CLIENT.request, A("client", 0.95), o)
    end
    if not strict then
      if ok then follow(p) end
      return
    end
    local what = ("a request with CR/LF/NUL in %s"):format(which)
    if not ok then
      if p ~= fz.BUDGET and not tide.is_error(p, "usage") then
        fz.finding("poison raised " .. which, ("%s raised %s, not a usage error"):format(what, fz.describe(p)))
      end
      return
    end
    if kind_of(p) ~= "promise" then return end
    fz.PM.next(p, function()
      fz.finding("poison sent " .. which, what .. " was sent (it fulfilled) instead of being refused")
    end, function(e)
      local k = settled_kind(e)
      -- (timeout and cancelled: stopped by the fuzzer before it settled)
      if k ~= "usage" and k ~= "timeout" and k ~= "cancelled" then
        fz.finding("poison sent " .. which, ("%s was sent (it failed with %s) instead of being refused"):format(
          what, fz.describe(e)))
      end
    end)
  end

  op("http CR/LF/NUL", 2, function() poisoned_request(false) end)
  -- (issue 15 items 8-9: such strings were sent, or cut the request short)
  op("http CR/LF/NUL refused", 1, function() poisoned_request(true) end)

  --- A client of its own (closed at the end with the others).
  local function own_client()
    local ok, c = fz.call_np("http.client", tide.http.client, { base_url = BASE or "http://127.0.0.1:1" })
    if not ok or kind_of(c) ~= "client" then return nil end
    fz.put(c)
    return c
  end

  -- Closing the client from inside its own transfer: from the upload body
  -- function (the transfer is cancelled, or done already).
  op("client:close in body", 1, function()
    local c = chance(0.8) and own_client() or A("client")
    local n = rand(3)
    local body = function()
      n = n - 1
      pcall(CLIENT.close, c)
      if n > 0 then return "chunk" end
      return nil
    end
    local ok, p = call("client:post", CLIENT.post, c, "/api/fast", { body = body, timeout = 2 })
    if ok then follow(p) end
  end)

  -- ... and from on_progress, where the final report comes after the
  -- transfer is detached (issue 15 item 1: close() freed the request the
  -- operation still pointed at, and a later cancel freed it again).
  op("client:close in on_progress", 1, function()
    local default = chance(0.2)
    local c = not default and own_client() or nil
    local on_progress = function()
      if default then pcall(tide.http.close) else pcall(CLIENT.close, c) end
    end
    local ok, p
    if default then
      ok, p = call("http.get", tide.http.get, url(), { on_progress = on_progress, timeout = 2 })
    else
      ok, p = call("client:get", CLIENT.get, c, "/api/fast", { on_progress = on_progress, timeout = 2 })
    end
    if ok and chance(0.7) then
      local okt, t = fz.call_np("tide.timeout", tide.timeout, fz.short_wait(), p)
      if okt then follow(t) end
    elseif ok then
      follow(p)
    end
  end)
end

