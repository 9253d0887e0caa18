--- fuzz/lib/seed.lua: the values the pool starts with: edge numbers, odd
-- strings, URLs of the local service, odd tables, thenables, functions, and
-- one of each of tide's simpler objects.

return function(fz)
  local tide, put, know = fz.tide, fz.put, fz.know
  for _, v in ipairs { 0, -1, 0.5, 1e308, math.huge, -math.huge, 0 / 0, 1, 2, 3, 7, 100, math.maxinteger,
                       math.mininteger, 2 ^ 53, -0.0, 1e-9, 0.001, 0.01 } do put(v) end
  for _, v in ipairs { "", ("L"):rep(100000), "a\0b", "line1\r\nline2\n", "ftp://x", "http://127.0.0.1:1/",
                       "GET", "post", "timeout", "cancelled", "%s%d%n", "\255\254", "next", "then", "n",
                       "fuzz: a string" } do put(v) end
  if fz.BASE then
    for _, p in ipairs { "/api/fast", "/api/users/7", "/api/items/x", "/files/big.bin", "/nope" } do
      put(fz.BASE .. p)
    end
  end
  put(true)
  put(false)
  put(nil)
  for _, t in ipairs(fz.odd_tables()) do put(t) end
  for _ = 1, 12 do put(fz.make_thenable()) end
  for _ = 1, 24 do put(fz.make_fn()) end
  put(fz.callable_table())
  put(coroutine.create(fz.make_fn()))
  put(io.stdout)
  put(tide.resolve(42))
  local rejected = tide.reject("fuzz: seeded rejection")
  rejected:catch(function() end)
  put(rejected)
  put(tide.deferred())
  put(tide.abort_controller())
  put(tide.channel(1))
  put(tide.semaphore(1))
  put(tide.breaker())
  put(tide.error("fuzz", "seeded"))
  know(tide.error)
end
