--- W8's loops, shared by tide's program and lua-cjson's so that both run
--- the same documents through the same code:
---   decode one ~1 MiB document, then encode the value back (`rounds`
---   times each, after a warm-up); then decode N small documents (cycling
---   through 1,000 distinct ones) and encode each value back.
--- `count` in the RESULT line is N if every small document decoded right
--- (its `id` the record's number, of the number type `id_type` says: tide
--- keeps JSON integers as integers, lua-cjson 2.1.0 makes them floats) and
--- every encoding read back to the same id.
local bench = require "bench"
local data = require "json_data"

local M = {}

function M.run(impl, json, id_type)
  local n = bench.arg_int(1, 100000)
  local decode, encode = json.decode, json.encode
  -- CPU time: these loops never wait, and on a shared machine it is
  -- steadier than wall time (the same clock for both programs).
  local clock = os.clock
  local rounds = math.max(2, math.min(20, n // 5000))
  local big, records = data.big(1024 * 1024)
  local smalls = data.small(1000)
  local k = #smalls

  -- Seconds per call of f, over `times` calls after one warm-up call, the
  -- heap collected first.
  local function time(times, f)
    f()
    collectgarbage()
    collectgarbage()
    local t0 = clock()
    for _ = 1, times do f() end
    return (clock() - t0) / times
  end

  local value
  local big_dec = time(rounds, function() value = decode(big) end)
  assert(#value == records and value[records].id == records, "the big document decoded wrong")
  local text
  local big_enc = time(rounds, function() text = encode(value) end)
  assert(#decode(text) == records, "the big document encoded wrong")

  local values = {}
  local small_dec = time(1, function()
    for i = 1, n do
      local j = (i - 1) % k + 1
      values[j] = decode(smalls[j])
    end
  end) / n
  local texts = {}
  local small_enc = time(1, function()
    for i = 1, n do
      local j = (i - 1) % k + 1
      texts[j] = encode(values[j])
    end
  end) / n

  local good = 0
  for j = 1, k do
    local id = values[j].id
    if math.type(id) == id_type and id == j and decode(texts[j]).id == j then good = good + 1 end
  end

  bench.result("W8", impl, {
    n = n, count = good == k and n or good,
    big_dec_ms = big_dec * 1e3, big_enc_ms = big_enc * 1e3,
    small_dec_ns = small_dec * 1e9, small_enc_ns = small_enc * 1e9,
  })
end

return M
