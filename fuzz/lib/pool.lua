--- fuzz/lib/pool.lua: the classes of tide's objects, the values the fuzzer
-- knows, and the pool of values later calls draw from.
--
-- The pool is a set of typed buckets (one per kind: "promise", "task",
-- "str", "fn", ...). P() draws any value, G(kind) one of a kind, A(kind)
-- mostly one of a kind. Every value the fuzzer made or handed to a call is
-- "known": an error or rejection reason must be a string, a tide.error, or
-- a known value.

return function(fz)
  local tide, core, S = fz.tide, fz.core, fz.S
  local rand, chance, count = fz.rand, fz.chance, fz.count

  -- Classes, found from live objects ------------------------------------------

  local function registry_mt(name) return debug.getregistry()[name] end

  local MT = {
    promise = core.promise_mt, task = core.task_mt, signal = core.signal_mt, err = core.error_mt,
    timer = registry_mt("tide.timer"), cclient = registry_mt("tide.http.pool"),
    transfer = registry_mt("tide.http.transfer"),
    ctl = getmetatable(tide.abort_controller()), channel = getmetatable(tide.channel()),
    stream = tide.stream.Stream, sem = getmetatable(tide.semaphore(1)), breaker = getmetatable(tide.breaker()),
    scope = getmetatable(tide.scope()), response = tide.http.Response,
  }
  do
    local c = tide.http.client()
    MT.client = getmetatable(c)
    c:close()
  end
  local KIND_OF_MT = {}
  for k, mt in pairs(MT) do KIND_OF_MT[mt] = k end
  -- An operation's promise (a sleep, a file request) is a promise with cancel.
  KIND_OF_MT[core.operation_mt] = "promise"
  fz.MT = MT

  fz.PM = core.promise_methods                    -- next, catch, state, peek, await, finally
  fz.TM = MT.task.__index                         -- the same plus cancel, traceback
  fz.OPM = core.operation_mt.__index              -- an operation's: the same plus cancel
  fz.TIMER = MT.timer.__index
  fz.CH, fz.ST, fz.SEM, fz.BRK, fz.SCOPE, fz.CTL, fz.SIG, fz.CLIENT, fz.RESP =
    MT.channel, MT.stream, MT.sem, MT.breaker, MT.scope, MT.ctl, MT.signal, MT.client, MT.response

  -- Known values --------------------------------------------------------------

  local known_obj = setmetatable({}, { __mode = "k" })
  local known_scalar = {}
  local function know(v)
    local t = type(v)
    if t == "table" or t == "function" or t == "userdata" or t == "thread" then
      known_obj[v] = true
    elseif v ~= nil and v == v then
      known_scalar[v] = true
    end
  end
  fz.know = know
  function fz.is_known(v)
    local t = type(v)
    if v == nil or t == "string" or (t == "number" and v ~= v) then return true end
    if t == "table" or t == "function" or t == "userdata" or t == "thread" then return known_obj[v] == true end
    return known_scalar[v] == true
  end

  -- The pool: typed buckets of values -----------------------------------------

  local NIL = setmetatable({}, { __name = "fuzz.nil" }) -- nil, inside a bucket
  local BUCKET_MAX = 48
  local buckets, bucket_list = {}, {}

  -- Registries for the clean-up at the end (weak where tide anchors what is live).
  local weak = { __mode = "k" }
  fz.all_promises = setmetatable({}, weak)
  fz.all_timers = setmetatable({}, weak)
  fz.all_channels = setmetatable({}, weak)
  fz.all_ctls = setmetatable({}, weak)
  fz.all_responses = setmetatable({}, weak)
  fz.all_streams = setmetatable({}, weak)
  fz.fs_streams = {}                        -- strong: a dropped fs.lines stream would keep its fd
  fz.fs_files = {}                          -- strong: tide.fs.open files, closed at the end
  fz.all_clients, fz.client_list = {}, {}   -- strong: closed at the end
  fz.settlers = setmetatable({}, weak)      -- deferred promise -> {resolve, reject}
  fz.long_timeouts = setmetatable({}, weak) -- timeout() results with long deadlines
  fz.long_signals = setmetatable({}, weak)  -- timeout_signal()s with long deadlines
  S.promises_seen = 0
  local all_promises, all_timers, all_channels, all_ctls, all_streams, all_responses, all_clients, client_list =
    fz.all_promises, fz.all_timers, fz.all_channels, fz.all_ctls, fz.all_streams, fz.all_responses, fz.all_clients,
    fz.client_list

  local function kind_of(v)
    local t = type(v)
    if t == "nil" then return "nil" end
    if t == "number" then return "num" end
    if t == "string" then return "str" end
    if t == "boolean" then return "bool" end
    if t == "function" then return "fn" end
    if t == "thread" then return "co" end
    local k = KIND_OF_MT[getmetatable(v)]
    if k then return k end
    return t == "table" and "tbl" or "ud"
  end
  fz.kind_of = kind_of

  local function put_in(kind, v)
    know(v)
    local b = buckets[kind]
    if not b then
      b = { n = 0, kind = kind }
      buckets[kind] = b
      bucket_list[#bucket_list + 1] = b
    end
    if v == nil then v = NIL end
    if b.n < BUCKET_MAX then
      b.n = b.n + 1
      b[b.n] = v
    else
      b[rand(BUCKET_MAX)] = v
    end
  end
  fz.put_in = put_in

  function fz.put(v)
    local k = kind_of(v)
    if (type(v) == "table" or type(v) == "userdata") and not known_obj[v] then count(S.created, k) end
    know(v)
    put_in(k, v)
    if k == "promise" or k == "task" then
      if not all_promises[v] then
        all_promises[v] = true
        S.promises_seen = S.promises_seen + 1
      end
    elseif k == "timer" then all_timers[v] = true
    elseif k == "channel" then all_channels[v] = true
    elseif k == "ctl" then all_ctls[v] = true; put_in("signal", rawget(v, "signal"))
    elseif k == "stream" then all_streams[v] = true
    elseif k == "response" then all_responses[v] = true
    elseif k == "client" and not all_clients[v] then
      all_clients[v] = true
      client_list[#client_list + 1] = v
    end
  end

  local function unwrap(v)
    if v == NIL then return nil end
    return v
  end

  --- Any value of the pool.
  local function P()
    for _ = 1, 4 do
      local b = bucket_list[rand(#bucket_list)]
      if b.n > 0 then return unwrap(b[rand(b.n)]) end
    end
    return nil
  end
  fz.P = P

  --- A value of the given kind (any value when there is none yet).
  local function G(kind)
    local b = buckets[kind]
    if b and b.n > 0 then return unwrap(b[rand(b.n)]) end
    return P()
  end
  fz.G = G

  --- Mostly a value of the given kind, sometimes any value.
  function fz.A(kind, p)
    if chance(p or 0.85) then return G(kind) end
    return P()
  end

  function fz.A_prom(p)
    if chance(p or 0.85) then return G(chance(0.6) and "promise" or "task") end
    return P()
  end

  function fz.A_stream(p)
    if chance(p or 0.85) then return G(chance(0.75) and "stream" or "channel") end
    return P()
  end

  --- A value that is neither a thenable-ish table nor a promise (what
  --- thenables and executors settle with: a thenable that resolves with
  --- thenables forever would never settle; "settles soon" must hold).
  function fz.PV()
    local v = P()
    local k = kind_of(v)
    if k == "promise" or k == "task" or (k == "tbl" and getmetatable(v) ~= nil) then return 42 end
    return v
  end
end
