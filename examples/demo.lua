-- The demo (`make demo`): concurrent service calls against a local service.
-- Each API call answers after about 100 ms, as a remote service would; the
-- same calls are made one by one, in parallel with tide.all, and through a
-- concurrency limit with tide.map, then a download shows a progress bar and
-- a call's per-phase timings. With S3_ENDPOINT (and S3_BUCKET) set, an S3
-- round trip follows: put_object, then get_object of the same key.
--
--   scripts/demo                      starts the service (scripts/local-api),
--                                     runs this, stops the service
--   lua5.4 examples/demo.lua URL      against a service already running
--                                     (S3_ENDPOINT=http://127.0.0.1:PORT for
--                                     an S3 emulator such as s3rver)
local tide = require "tide"

local base = arg[1] or os.getenv("TIDE_DEMO_URL")
if not base then
  io.stderr:write("usage: lua5.4 examples/demo.lua BASE_URL (or run scripts/demo)\n")
  os.exit(2)
end

local api = tide.http.client { base_url = base, timeout = 10 }
local function ms(t0) return (tide.now() - t0) * 1000 end

-- An "async function": one service call, decoded.
local get_json = tide.async(function(path)
  return api:get(path):await():raise_for_status():json()
end)

tide.run(function()
  print(("service: %s\n"):format(base))

  local t0 = tide.now()
  local user = get_json("/api/users/7"):await()
  local orders = get_json("/api/orders"):await()
  local profile = get_json("/api/profile/7"):await()
  print(("sequential: %s, %d orders, theme %s   %4.0f ms"):format(user.name, #orders, profile.theme, ms(t0)))

  t0 = tide.now()
  user, orders, profile = table.unpack(tide.all {
    get_json("/api/users/7"), get_json("/api/orders"), get_json("/api/profile/7"),
  }:await())
  print(("parallel:   %s, %d orders, theme %s   %4.0f ms"):format(user.name, #orders, profile.theme, ms(t0)))

  t0 = tide.now()
  local items = {}
  for i = 1, 12 do items[i] = i end
  local got = tide.map(items, function(i) return get_json("/api/items/" .. i):await().item end,
    { concurrency = 4 }):await()
  print(("limited:    %d items, 4 at a time            %4.0f ms  (%s .. %s)"):format(
    got.n, ms(t0), got[1], got[got.n]))

  -- A download with a progress bar (on_progress reports bytes so far).
  local width, last = 30, -1
  local res = api:get("/files/big.bin", {
    on_progress = function(now, total)
      if total > 0 then
        local filled = math.floor(width * now / total)
        if filled ~= last then
          last = filled
          io.write(("\rdownload:   [%s%s] %3d%%"):format(("#"):rep(filled), ("."):rep(width - filled),
            math.floor(100 * now / total)))
          io.flush()
        end
      end
    end,
  }):await()
  print(("\rdownload:   [%s] %d KiB in %.0f ms over HTTP/%s"):format(("#"):rep(width), #res.body // 1024,
    res.timings.total * 1000, res.http_version))

  local t = api:get("/api/users/7"):await().timings
  print(("timings of one call: dns %.2f ms, connect %.2f ms, first byte %.1f ms, total %.1f ms"):format(
    t.dns * 1000, t.connect * 1000, t.first_byte * 1000, t.total * 1000))

  -- One S3 round trip through tide.aws (a local emulator: its own keys).
  local s3_endpoint = os.getenv("S3_ENDPOINT")
  if s3_endpoint then
    local aws = require "tide.aws"
    local s3 <close> = aws.s3 { region = "us-east-1", endpoint = s3_endpoint,
                                credentials = { access_key_id = "S3RVER", secret_access_key = "S3RVER" } }
    local bucket = os.getenv("S3_BUCKET") or "tide-demo"
    t0 = tide.now()
    s3:put_object { Bucket = bucket, Key = "greeting.txt", Body = "Hello from tide!", ContentType = "text/plain",
                    Metadata = { from = "demo" } }:await()
    local obj = s3:get_object { Bucket = bucket, Key = "greeting.txt" }:await()
    print(("s3: put + get greeting.txt: %q (%s, %d bytes, from=%s)   %4.0f ms"):format(obj.Body, obj.ContentType,
      obj.ContentLength, obj.Metadata.from, ms(t0)))
  end
end)
api:close()
