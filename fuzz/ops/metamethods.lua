--- fuzz/ops/metamethods.lua: operations that call the metamethods of
-- tide's classes directly (getmetatable(p).__tostring("x"), __gc on a
-- table, __close on another class's object), with wrong arguments: a
-- string, nil, a number, a table, another class's object, or the right
-- object with stray extra arguments. Each must raise a clean error or
-- work, never crash (issue 15 item 4).

return function(fz)
  local op, call, P, G, rand, chance, choose = fz.op, fz.call, fz.P, fz.G, fz.rand, fz.chance, fz.choose
  local MT = fz.MT

  -- The classes, in a fixed order (a seed must pick the same ones).
  local CLASSES = {}
  for name in pairs(MT) do CLASSES[#CLASSES + 1] = name end
  table.sort(CLASSES)

  local KEYS = { "__tostring", "__index", "__gc", "__close", "__call", "__eq", "__len", "__newindex", "__lt",
                 "__le", "__concat", "__name" }

  -- Class.key pairs that crash today: called with a wrong argument they read
  -- it as their own struct. Delete an entry once it is fixed; the crashing
  -- operation below runs only these, and only with --hostile.
  local CRASHES = {
    ["promise.__tostring"] = true, ["task.__tostring"] = true,
  }

  --- A wrong argument for a metamethod of class `cls`.
  local function wrong(cls)
    local r = rand(7)
    if r == 1 then return choose { "x", "", "tide.promise" } end
    if r == 2 then return nil end
    if r == 3 then return choose { 42, -1, 0 / 0 } end
    if r == 4 then return choose { {}, setmetatable({}, MT[cls]) } end
    if r == 5 then return G(choose(CLASSES)) end
    if r == 6 then return P() end
    return io.stdout
  end

  --- Picks a class and a metamethod of it that is a function; `crashing`
  --- selects among the pairs listed in CRASHES or among the others.
  local function pick(crashing)
    for _ = 1, 8 do
      local cls = choose(CLASSES)
      local mt = MT[cls]
      local key = choose(KEYS)
      local f = type(mt) == "table" and rawget(mt, key)
      if type(f) == "function" and (CRASHES[cls .. "." .. key] == true) == crashing then return cls, key, f end
    end
  end

  local function call_metamethod(crashing)
    local cls, key, f = pick(crashing)
    if not f then return end
    local name = "mt " .. cls .. "." .. key
    if chance(0.8) then
      call(name, f, wrong(cls), P())
    else
      -- The right object, with stray arguments after it.
      local obj = G(cls)
      call(name, f, obj, wrong(cls), wrong(cls))
    end
  end

  op("metamethod", 3, function() call_metamethod(false) end)
  -- (issue 15 item 4: a metamethod called with a wrong argument read it as
  -- its own struct)
  op("metamethod (wrong argument)", 2, function() call_metamethod(true) end)
end
