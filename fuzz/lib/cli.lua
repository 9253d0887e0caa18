--- fuzz/lib/cli.lua: the fuzzer's command line.
-- Returns a function of `arg` that gives the configuration table, or exits
-- with status 2 on bad usage.

local USAGE = "usage: lua5.4 fuzz/api_fuzz.lua --seed N --calls M [--url BASE] [--time-limit S] [--trace FILE] "
  .. "[--skip OP,OP...] [--hostile] [--tmp DIR] [--quiet] [--verbose]"

local function usage(msg)
  io.stderr:write(("api_fuzz: %s\n%s\n"):format(msg, USAGE))
  os.exit(2)
end

return function(arg)
  local cfg = { calls = 20000, quiet = false }
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--seed" then
      cfg.seed = math.tointeger(tonumber(v)) or usage("--seed needs an integer")
      i = i + 2
    elseif a == "--calls" then
      cfg.calls = math.tointeger(tonumber(v)) or usage("--calls needs an integer")
      i = i + 2
    elseif a == "--url" then
      cfg.url = v or usage("--url needs a base URL")
      i = i + 2
    elseif a == "--time-limit" then
      cfg.limit = tonumber(v) or usage("--time-limit needs seconds")
      i = i + 2
    elseif a == "--trace" then
      cfg.trace = v or usage("--trace needs a file name")
      i = i + 2
    elseif a == "--quiet" then
      cfg.quiet = true
      i = i + 1
    elseif a == "--verbose" then
      cfg.verbose = true
      i = i + 1
    elseif a == "--hostile" then
      cfg.hostile = true
      i = i + 1
    elseif a == "--skip" then
      cfg.skip = v or usage("--skip needs operation names")
      i = i + 2
    elseif a == "--tmp" then
      cfg.tmp = v or usage("--tmp needs a directory")
      i = i + 2
    else
      usage("unknown argument " .. tostring(a))
    end
  end
  cfg.seed = cfg.seed or os.time()
  if cfg.url then
    cfg.url = cfg.url:gsub("/+$", "")
    if not cfg.url:match("^http://127%.0%.0%.1:%d+$") then usage("--url must be http://127.0.0.1:PORT") end
  end
  -- A hard deadline: past it no more calls are made (the run then cleans up).
  cfg.limit = cfg.limit or (30 + cfg.calls * 0.004)
  return cfg
end
