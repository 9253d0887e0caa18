--- Starts the S3 side of the HTTP specs on 127.0.0.1: s3rver (installed by
--- scripts/test from npm into .cache/npm) with a bucket, and sigv4.py, which
--- checks SigV4 signatures itself (s3rver accepts any V4 signature).
local helper = require "spec.helper"

local M = {}

local S3RVER = ".cache/npm/node_modules/.bin/s3rver"

local function read_line(path, tries)
  for _ = 1, tries do
    local f = io.open(path)
    local line = f and f:read("l")
    if f then f:close() end
    if line and line ~= "" then return line end
    os.execute("sleep 0.1")
  end
end

-- Helper programs run without the sanitizer runtime that the specs may
-- preload (node and python under LD_PRELOAD=libasan misbehave).
local CLEAN_ENV = require("spec.support.servers").CLEAN_ENV

-- Starts `cmd` in the background; returns a function that stops it.
local function background(cmd, pidfile)
  os.execute(("(%s%s) & echo $! > %s"):format(CLEAN_ENV, cmd, pidfile))
  local pid = read_line(pidfile, 20)
  return function() if pid then os.execute("kill " .. pid .. " 2>/dev/null; wait " .. pid .. " 2>/dev/null") end end
end

--- Starts both; returns {s3 = base URL, bucket = name, key, secret,
--- verifier = base URL, verifier_secret, stop = fn}.
function M.start()
  local f = io.open(S3RVER)
  if not f then error("s3rver is missing: scripts/test installs it (npm install into .cache/npm)", 2) end
  f:close()
  local dir = helper.tmpdir()
  -- Port 0: s3rver takes a free port and says which ("S3rver listening on
  -- 127.0.0.1:PORT"); a port picked here could be in use by then.
  -- s3rver's continuation tokens use a cipher that OpenSSL 3 keeps in its
  -- legacy provider: without it, a listing of more than one page fails.
  local stop_s3 = background(("env NODE_OPTIONS=--openssl-legacy-provider %s -d %s/data -a 127.0.0.1 -p 0 "
    .. "--configure-bucket tide-test > %s/s3.log 2>&1"):format(S3RVER, dir, dir), dir .. "/s3.pid")
  local stop_v4 = background(("python3 spec/support/sigv4.py VERIFIER-SECRET > %s/v4.port 2>&1"):format(dir),
    dir .. "/v4.pid")
  local v4port = read_line(dir .. "/v4.port", 50)
  local port, log
  for _ = 1, 300 do -- node starts in well under a second; allow 30 s on a loaded machine
    local lf = io.open(dir .. "/s3.log")
    log = lf and lf:read("a") or ""
    if lf then lf:close() end
    port = log:match("S3rver listening on 127%.0%.0%.1:(%d+)")
    if port then break end
    os.execute("sleep 0.1")
  end
  if not port then
    stop_s3()
    stop_v4()
    error("s3rver did not start; its log:\n" .. log, 2)
  end
  return {
    s3 = ("http://127.0.0.1:%d"):format(port), bucket = "tide-test", key = "S3RVER", secret = "S3RVER",
    verifier = "http://127.0.0.1:" .. assert(v4port, "sigv4.py did not start"), verifier_secret = "VERIFIER-SECRET",
    stop = function()
      stop_s3()
      stop_v4()
      os.execute("rm -rf " .. dir)
    end,
  }
end

return M
