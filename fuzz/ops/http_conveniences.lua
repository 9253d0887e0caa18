--- fuzz/ops/http_conveniences.lua: operations for the HTTP conveniences:
-- multipart bodies, unix_socket, client certificates and pins, clients with
-- hooks and cookie jars, Retry-After, res:events() and event_source; CR/LF/NUL
-- in each of their strings must be refused; only to 127.0.0.1.

return function(fz)
  local tide = fz.tide
  local op, call, call_np, A, P, F = fz.op, fz.call, fz.call_np, fz.A, fz.P, fz.F
  local kind_of, follow, rand, chance, choose = fz.kind_of, fz.follow, fz.rand, fz.chance, fz.choose
  local TMP, BASE, CLIENT, RESP = fz.TMP, fz.BASE, fz.CLIENT, fz.RESP
  local ORIGIN = BASE or "http://127.0.0.1:1"

  local function part()
    return choose {
      { name = "a", value = "v" }, { name = "n", value = 42 }, { name = "f", file = TMP .. "/missing" },
      { name = "f", file = "/etc/hostname", filename = "h.txt", content_type = "text/plain" },
      { name = "x" }, { value = "v" }, { name = "a", value = {} }, { name = "a", value = "v", bogus = 1 }, "p", P(),
    }
  end

  local function conv_opts()
    local o = { timeout = 2 }
    local r = rand(6)
    if r == 1 then
      local list = {}
      for i = 1, rand(4) - 1 do list[i] = part() end
      o.multipart = chance(0.9) and list or P()
    elseif r == 2 then
      o.unix_socket = choose { TMP .. "/none.sock", "", P() }
    elseif r == 3 then
      o.cert, o.key = choose { TMP .. "/missing.pem", "", P() }, choose { TMP .. "/missing.key", P() }
      if chance(0.5) then o.key_password = choose { "pw", "", P() } end
    elseif r == 4 then
      o.pinned_pubkey = choose { "sha256//AAAA", "sha256//", "", P() }
    elseif r == 5 then
      o.proxy = choose { "socks5h://127.0.0.1:1", "socks5://127.0.0.1:1" }
    else
      o.decompress = choose { true, false, P() }
    end
    return o
  end

  op("http conveniences request", 3, function()
    local o = conv_opts()
    local ok, p = call("http.post (conveniences)", tide.http.post, ORIGIN .. "/api/fast", o)
    if ok and chance(0.8) then follow(p) end
  end)

  local function hook()
    return choose {
      function(req) req.headers["X-Hook"] = "1" end,
      function(req) req.headers = nil end,
      function() error("hook failed") end,
      function() tide.sleep(0.001):await() end,
      function(req) req.headers["X-Bad"] = "a\r\nb" end,
      F(),
    }
  end

  op("http client with hooks and cookies", 1, function()
    local co = { base_url = ORIGIN, timeout = 2 }
    if chance(0.6) then co.on_request = hook() end
    if chance(0.4) then co.on_response = hook() end
    if chance(0.5) then
      -- A random jar name, but inside the fuzzer's directory (a string is a path).
      local name = tostring(P()):gsub("[/%z]", "_")
      co.cookies = choose { true, false, TMP .. "/jar.txt", "", TMP .. "/" .. name }
    end
    if chance(0.2) then co.retry = { attempts = 2, base = 0.001, max = 0.01 } end
    local ok, c = call_np("http.client (conveniences)", tide.http.client, co)
    if not ok or kind_of(c) ~= "client" then return end
    fz.put(c)
    local okp, p = call("client:get (conveniences)", CLIENT.get, c, choose { "/api/fast", "/nope" })
    if okp then follow(p) end
    call("client:cookies", CLIENT.cookies, chance(0.9) and c or A("client"))
  end)

  op("res:events", 1, function()
    call("res:events", RESP.events, A("response"))
  end)

  op("http.event_source", 1, function()
    local o = choose { { reconnect = 0.01, max_reconnects = 1, timeout = 1 }, { bogus = 1 }, { reconnect = -1 },
                       { headers = { X = "a\nb" } }, { client = {} }, P() }
    local ok, s = call("http.event_source", tide.http.event_source, ORIGIN .. "/api/fast", o)
    if ok and kind_of(s) == "stream" then
      fz.all_streams[s] = true
      local okr, p = call_np("event_source:read", s.read, s)
      if okr then follow(p) end
    end
  end)

  -- Strict: a string with CR, LF or NUL in one of the new options is
  -- refused with a usage error, raised at once, never sent.
  local POISON = {
    unix_socket = function(o, bad) o.unix_socket = "/tmp/x" .. bad end,
    cert = function(o, bad) o.cert = "c.pem" .. bad end,
    key = function(o, bad) o.key = "k.pem" .. bad end,
    key_password = function(o, bad) o.key_password = "pw" .. bad end,
    pinned_pubkey = function(o, bad) o.pinned_pubkey = "sha256//x" .. bad end,
    multipart_name = function(o, bad) o.multipart = { { name = "a" .. bad, value = "v" } } end,
    multipart_filename = function(o, bad) o.multipart = { { name = "a", file = "/etc/hostname", filename = bad } } end,
    multipart_type = function(o, bad) o.multipart = { { name = "a", value = "v", content_type = "t/p" .. bad } } end,
  }
  local NAMES = {}
  for k in pairs(POISON) do NAMES[#NAMES + 1] = k end
  table.sort(NAMES)

  op("http conveniences CR/LF/NUL refused", 1, function()
    local which = choose(NAMES)
    local o = { timeout = 2 }
    POISON[which](o, choose { "\r\n", "\n", "\r", "\0", "\r\nInjected: yes" })
    local ok, p = call_np("http.post (CR/LF/NUL)", tide.http.post, ORIGIN .. "/api/fast", o)
    if ok then
      if kind_of(p) == "promise" then follow(p) end
      fz.finding("poison accepted " .. which, ("CR/LF/NUL in %s was not refused at once"):format(which))
    elseif p ~= fz.BUDGET and not tide.is_error(p, "usage") then
      fz.finding("poison raised " .. which, ("CR/LF/NUL in %s raised %s, not a usage error"):format(
        which, fz.describe(p)))
    end
  end)
end
