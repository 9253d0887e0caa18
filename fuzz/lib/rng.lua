--- fuzz/lib/rng.lua: randomness, splitmix64, private to the fuzzer
-- (tide.retry draws from math.random for its jitter; that must not shift
-- the fuzzer's choices). Adds rand, chance and choose to the context.

return function(fz)
  local rng = fz.cfg.seed
  local function rand_u64()
    rng = rng + 0x9E3779B97F4A7C15
    local z = rng
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  --- An integer in 1..n.
  function fz.rand(n) return (rand_u64() >> 1) % n + 1 end
  function fz.chance(p) return (rand_u64() >> 11) * (1.0 / 9007199254740992.0) < p end
  local rand = fz.rand
  function fz.choose(list) return list[rand(#list)] end
  math.randomseed(fz.cfg.seed)
end
