--- fuzz/lib/gen.lua: the generator of values: functions that do odd things
-- when called, thenables, errors to raise, durations, lists, sources and
-- tables that misbehave.
--
-- Generated functions run nested operations (bounded depth), await, yield,
-- raise, close things, collect garbage: whatever tide calls back may do.

return function(fz)
  local tide, S = fz.tide, fz.S
  local rand, chance, choose = fz.rand, fz.chance, fz.choose
  local P, G, PV, know, put_in, kind_of = fz.P, fz.G, fz.PV, fz.know, fz.put_in, fz.kind_of
  local fz_await, settles = fz.await, fz.settles
  local TM, CTL, ST, CH, TIMER, RESP, SCOPE = fz.TM, fz.CTL, fz.ST, fz.CH, fz.TIMER, fz.RESP, fz.SCOPE

  S.depth = 0
  S.nested_steps = 0
  local MAX_DEPTH = 3

  local KINDS = { "timeout", "cancelled", "usage", "network", "closed", "deadlock", "type", "aggregate",
                  "open_circuit", "http", "fs", "json", "body_too_large", "fuzz" }
  fz.KINDS = KINDS

  --- Runs one random operation, nested (bounded depth).
  local function nested_op()
    if S.depth >= MAX_DEPTH or S.winding_down or S.quiesce then return end
    S.depth = S.depth + 1
    S.nested_steps = S.nested_steps + 1
    fz.run_op()
    S.depth = math.max(0, S.depth - 1)
  end
  fz.nested_op = nested_op

  local function raise_value()
    local r = rand(4)
    local e
    if r == 1 then
      e = "fuzz: raised " .. tostring(rand(1000))
    elseif r == 2 then
      e = { fuzz = "raised" }
    elseif r == 3 then
      e = tide.error(choose(KINDS), "fuzz: raised", { fuzz = true, cause = chance(0.3) and P() or nil })
    else
      e = P()
    end
    know(e)
    return e
  end
  fz.raise_value = raise_value

  local closers = {
    function() pcall(TM.cancel, G("task"), P()) end,
    function() pcall(CTL.abort, G("ctl"), P()) end,
    function() pcall(ST.close, G("stream")) end,
    function() pcall(CH.close, G("channel")) end,
    function() pcall(TIMER.cancel, G("timer")) end,
    function() pcall(RESP.close, G("response")) end,
    function() pcall(SCOPE.cancel, G("scope"), P()) end,
  }

  local make_fn -- forward

  --- Calls some of the functions among the arguments (resolvers, yield,
  --- a scope's spawn) with pool values.
  local function use_args(...)
    local n = math.min(select("#", ...), 4)
    for i = 1, n do
      local a = select(i, ...)
      if type(a) == "function" and chance(0.6) then
        local v = chance(0.7) and PV() or P()
        know(v)
        pcall(a, v)
      elseif kind_of(a) == "scope" and chance(0.6) then
        pcall(SCOPE.spawn, a, make_fn())
      end
    end
  end

  local NB = 16
  make_fn = function(b)
    b = b or rand(NB)
    local captured = P()
    local f = function(...)
      if S.winding_down or S.quiesce then return nil end
      for i = 1, math.min(select("#", ...), 4) do know((select(i, ...))) end
      if select("#", ...) > 0 and chance(0.35) then use_args(...) end
      if b == 1 then
        return captured
      elseif b == 2 then
        return P(), P(), P()
      elseif b == 3 then
        error("fuzz: boom " .. tostring(rand(100)), chance(0.5) and 1 or 0)
      elseif b == 4 or b == 5 or b == 6 then
        error(raise_value(), 0)
      elseif b == 7 then
        return fz_await(P())
      elseif b == 8 then
        return coroutine.yield(P())
      elseif b == 9 or b == 10 then
        nested_op()
        return P()
      elseif b == 11 then
        return fz_await(tide.sleep(fz.short_wait()))
      elseif b == 12 then
        collectgarbage(chance(0.5) and "collect" or "step")
        return captured
      elseif b == 13 then
        choose(closers)()
        return captured
      elseif b == 14 then
        local r = rand(4)
        if r == 1 then return tide.current() end
        if r == 2 then return tide.resolve(PV()) end
        if r == 3 then return coroutine.running() end
        return G("promise")
      elseif b == 15 then
        local x = 0
        for i = 1, 200 do x = x + i end
        return x
      else
        -- awaits twice, with errors caught in between
        local ok1, v1 = pcall(fz_await, P())
        local ok2 = pcall(fz_await, tide.sleep(0))
        if not ok1 and chance(0.5) then error(v1, 0) end
        return ok2 and v1 or captured
      end
    end
    know(f)
    return f
  end
  fz.make_fn = make_fn

  local function callable_table()
    local fn = make_fn()
    return setmetatable({}, { __call = function(_, ...) return fn(...) end, __name = "fuzz.callable" })
  end
  fz.callable_table = callable_table

  --- A function or something else, for a callback position.
  local function F()
    local r = rand(12)
    if r <= 7 then
      local f = G("fn")
      if type(f) == "function" or chance(0.3) then return f end
      return make_fn()
    elseif r <= 9 then
      return make_fn()
    elseif r == 10 then
      return callable_table()
    end
    return P()
  end
  fz.F = F

  --- F(), or nil (for optional handlers).
  function fz.H()
    if chance(0.25) then return nil end
    return F()
  end

  --- Wraps a resolve/reject function: the values it is given become known.
  local function wrap_settler(f)
    local w = function(...)
      for i = 1, select("#", ...) do know((select(i, ...))) end
      return f(...)
    end
    know(w)
    put_in("settler", w)
    put_in("fn", w)
    return w
  end
  fz.wrap_settler = wrap_settler

  local function make_thenable(mode, shape)
    mode = mode or rand(9)
    shape = shape or rand(6)
    local then_fn = function(_, resolve, reject)
      if S.winding_down then return end
      if mode == 1 then
        resolve(PV())
      elseif mode == 2 then
        local e = raise_value()
        reject(e)
      elseif mode == 3 then
        resolve(PV()); reject(raise_value()); resolve(PV())
      elseif mode == 4 then
        error(raise_value(), 0)
      elseif mode == 5 then
        resolve(PV()); error(raise_value(), 0)
      elseif mode == 6 then
        return -- never settles
      elseif mode == 7 then
        wrap_settler(resolve); wrap_settler(reject)
      elseif mode == 8 then
        resolve(make_thenable(rand(3), rand(2)))
      else
        local f = make_fn()
        return f(wrap_settler(resolve), wrap_settler(reject))
      end
    end
    local t
    if shape == 1 then
      t = setmetatable({ next = then_fn }, {})
    elseif shape == 2 then
      t = setmetatable({ ["then"] = then_fn }, { __name = "fuzz.thenable" })
    elseif shape == 3 then
      t = setmetatable({ next = 42, ["then"] = then_fn }, {})
    elseif shape == 4 then
      local method = setmetatable({}, { __call = function(_, x, res, rej) return then_fn(x, res, rej) end })
      t = setmetatable({}, { __index = { next = method } })
    elseif shape == 5 then
      -- looking its method up raises
      t = setmetatable({}, { __index = function(_, k) if k == "next" then error(raise_value(), 0) end end })
      settles[t] = true
      return t
    else
      t = { next = then_fn } -- no metatable: a plain value
    end
    if mode ~= 6 and mode ~= 7 and mode ~= 9 then settles[t] = true end
    return t
  end
  fz.make_thenable = make_thenable

  -- Arguments -----------------------------------------------------------------

  local DURS = { 0, 0, 0, 0.001, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05 }
  local BAD_DURS = { -1, 0 / 0, math.huge, -math.huge, 1e308, 1e-300, "0.01", "x", true, 2 ^ 63, math.maxinteger,
                     3600, -0.0, 0.5, 1.5 }
  S.long_durations = 0

  function fz.dur()
    if chance(0.88) then return choose(DURS) end
    local d = chance(0.5) and choose(BAD_DURS) or P()
    if type(d) == "number" and d > 2 then S.long_durations = S.long_durations + 1 end
    return d
  end

  function fz.sig_opts()
    local r = rand(12)
    if r <= 5 then return nil end
    if r <= 9 then return { signal = G("signal") } end
    if r == 10 then return {} end
    if r == 11 then return { signal = P() } end
    return P()
  end

  local function small_list(gen, max)
    local n = rand((max or 5) + 1) - 1
    local t = {}
    for i = 1, n do t[i] = gen() end
    if chance(0.25) then t.n = math.max(0, n + rand(3) - 2) end
    if chance(0.05) then t.n = choose { 0.5, -1, "2", 0 / 0, true } end
    return t
  end
  fz.small_list = small_list

  function fz.promise_list()
    if chance(0.08) then return P() end
    return small_list(function()
      if chance(0.75) then return fz.A_prom() end
      if chance(0.3) then return make_thenable() end
      return P()
    end)
  end

  function fz.value_list()
    if chance(0.08) then return P() end
    return small_list(P, 6)
  end

  --- A source function that gives at most k values, then nil (pull-like
  --- positions: an endless synchronous source would spin forever).
  local function bounded_source(strings)
    local k = rand(5) - 1
    local raises = chance(0.1)
    local awaits = chance(0.3)
    return function()
      if S.winding_down or k <= 0 then return nil end
      k = k - 1
      if raises and k == 0 then error(raise_value(), 0) end
      if awaits then pcall(fz_await, tide.sleep(0)) end
      if strings then
        if chance(0.1) then return P() end
        return choose { "a", "line\n", "two\r\nlines\n", ("z"):rep(1000), "" }
      end
      local v = PV()
      if v == nil then v = 0 end
      return v
    end
  end
  fz.bounded_source = bounded_source

  function fz.gen_body()
    if chance(0.3) then return F() end
    local k = rand(4) - 1
    return function(yield)
      if S.winding_down then return end
      for _ = 1, k do
        if chance(0.1) then error(raise_value(), 0) end
        if chance(0.2) then pcall(fz_await, tide.sleep(0)) end
        local v = PV()
        if v == nil and chance(0.8) then v = "item" end
        yield(v)
      end
      if chance(0.1) then return yield(nil) end
    end
  end

  function fz.odd_tables()
    local cyc = {}
    cyc.self = cyc
    cyc[1] = cyc
    local list = { 1, nil, 3, n = 3 }
    local pull = bounded_source()
    return {
      {}, { 1, 2, 3 }, list, { n = -1 }, { n = 2.5 }, { n = "3" }, { n = 0 / 0 }, { nil, nil, n = 2 }, cyc,
      setmetatable({}, { __index = function() error("fuzz: __index raised", 0) end }),
      setmetatable({}, { __len = function() error("fuzz: __len raised", 0) end }),
      setmetatable({}, { __len = function() return 3 end }),
      setmetatable({}, { __tostring = function() error("fuzz: __tostring raised", 0) end }),
      setmetatable({}, { __tostring = function() return 42 end }),
      setmetatable({}, { __tostring = function() return fz_await(P()) end }),
      setmetatable({}, { __metatable = "locked" }),
      setmetatable({}, { __name = 42 }),
      setmetatable({}, { __index = function(_, k) return k == "pull" and pull or nil end }),
      { signal = 1 }, { signal = true }, { concurrency = 0 }, { attempts = 2, base = 0 },
      { recursive = true }, { url = "http://" }, { 1, 2, "x", false },
    }
  end
end
