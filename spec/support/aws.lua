--- The AWS side of the specs, on 127.0.0.1 only:
---
---   aws.dynalite()  dynalite (npm, installed by scripts/test into
---                   .cache/npm): {endpoint=, pid=, stop=}
---   aws.moto()      moto's server mode with its IAM checks on, and a user
---                   whose keys it accepts: {endpoint=, credentials=, stop=};
---                   or nil and the reason when the machine has no moto_server
---   aws.faults()    spec/support/aws_faults.py, a scripted responder:
---                   {url=, stop=}
---   aws.ENV         an env prefix for child processes that keeps them away
---                   from any real ~/.aws (HOME, AWS_CONFIG_FILE and
---                   AWS_SHARED_CREDENTIALS_FILE point into a temporary
---                   directory; no AWS_PROFILE)
---   aws.CREDENTIALS fixed test credentials (dynalite takes any)
---
--- Each server is started once per Lua state and stopped by its PID
--- (`stop`, for a teardown); a watchdog ends it if this process dies first.
local servers = require "spec.support.servers"

local M = {}

local CLEAN = servers.CLEAN_ENV
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/support"

M.CREDENTIALS = { access_key_id = "AKIDTIDETEST", secret_access_key = "tide-test-secret" }
M.REGION = "us-east-1"

local function sh(cmd) return os.execute(cmd) == true end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local slurp, my_pid = servers.slurp, servers.my_pid

local function tmpdir(name)
  local dir = capture(("mktemp -d /tmp/tide-%s-XXXXXX"):format(name)):match("[^\n]+")
  assert(dir, "mktemp failed")
  return dir
end

local home = tmpdir("aws-home")
M.HOME = home
M.ENV = ("env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN "
  .. "HOME=%s AWS_CONFIG_FILE=%s/config AWS_SHARED_CREDENTIALS_FILE=%s/credentials "):format(home, home, home)

-- Ends pid when this process is gone (polls twice a second).
local function watchdog(pid)
  sh(("sh -c 'while kill -0 %d 2>/dev/null && kill -0 %d 2>/dev/null; do sleep 0.5; done; "
    .. "kill %d 2>/dev/null' </dev/null >/dev/null 2>&1 &"):format(my_pid(), pid, pid))
end

local function kill_wait(pid)
  sh(("kill %d 2>/dev/null; for i in $(seq 100); do kill -0 %d 2>/dev/null || exit 0; sleep 0.05; done; "
    .. "kill -9 %d 2>/dev/null"):format(pid, pid, pid))
end

local function port_open(port)
  return sh((CLEAN .. "bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null"):format(port))
end

-- Whether the process pid itself listens on port (and not another program
-- that took the port between the check and the start: several test runs
-- can share the machine). Read from /proc: the socket's inode among pid's
-- descriptors.
local function listens(pid, port)
  return sh(("for i in $(awk '$2 ~ /:%04X$/ && $4 == \"0A\" { print $10 }' /proc/net/tcp /proc/net/tcp6); "
    .. "do ls -l /proc/%d/fd 2>/dev/null | grep -q \"socket:\\[$i\\]\" && exit 0; done; exit 1"):format(port, pid))
end

-- Starts `cmd` (with PORT replaced by a random port) in the background
-- until it listens; `fatal(log)` says whether its log shows a failure
-- other than a port in use. Returns pid, port, dir.
local function start(name, cmd, tries_per_port)
  local dir = tmpdir(name)
  for _ = 1, 10 do
    local port = math.random(20000, 60000)
    if not port_open(port) then
      local line = cmd:gsub("PORT", tostring(port))
      sh(("(%s%s%s </dev/null >%s/log 2>&1 & echo $! >%s/pid)"):format(CLEAN, M.ENV, line, dir, dir))
      local pid = tonumber(slurp(dir .. "/pid") or "")
      for _ = 1, tries_per_port do
        if port_open(port) then
          if not listens(pid, port) then break end -- another program has the port
          watchdog(pid)
          return pid, port, dir
        end
        if not sh("kill -0 " .. pid .. " 2>/dev/null") then break end
        sh("sleep 0.1")
      end
      kill_wait(pid)
    end
  end
  local log = slurp(dir .. "/log") or ""
  sh("rm -rf " .. dir)
  error(name .. " did not start:\n" .. log, 3)
end

local instances = {}

local function instance(name, pid, port, dir)
  local inst = { endpoint = ("http://127.0.0.1:%d"):format(port), port = port, pid = pid, dir = dir }
  function inst.stop()
    if not inst.pid then return end
    kill_wait(inst.pid)
    inst.pid = nil
    sh("rm -rf " .. dir)
    if instances[name] == inst then instances[name] = nil end
  end
  instances[name] = inst
  return inst
end

M.DYNALITE = ".cache/npm/node_modules/.bin/dynalite"

--- Starts dynalite (in memory; tables take 50 ms to create or delete).
function M.dynalite()
  if instances.dynalite then return instances.dynalite end
  local f = io.open(M.DYNALITE)
  if f then f:close() else
    error("dynalite is missing: scripts/test installs it (npm install into .cache/npm)", 2)
  end
  local pid, port, dir = start("dynalite", M.DYNALITE
    .. " --host 127.0.0.1 --port PORT --createTableMs 50 --deleteTableMs 50 --updateTableMs 50", 300)
  return instance("dynalite", pid, port, dir)
end

--- Whether this machine has moto's server (and why not).
function M.moto_available()
  if sh("command -v moto_server >/dev/null 2>&1") then return true end
  return false, "moto_server is not installed on this machine (pip install 'moto[server]')"
end

--- Starts moto_server with its IAM checks on (INITIAL_NO_AUTH_ACTION_COUNT:
--- the first three actions are let through to make a user with a policy
--- that allows everything, and its keys; every later request must be
--- signed with keys that moto knows). The instance's `credentials` are
--- that user's keys.
function M.moto()
  if instances.moto then return instances.moto end
  local ok, why = M.moto_available()
  if not ok then return nil, why end
  local pid, port, dir = start("moto", "env INITIAL_NO_AUTH_ACTION_COUNT=3 moto_server -H 127.0.0.1 -p PORT", 300)
  local inst = instance("moto", pid, port, dir)
  -- The three unchecked calls: a user, its keys, a policy allowing all.
  local tide = require "tide"
  local iam <close> = require("tide.aws").client("iam", { protocol = "query", version = "2010-05-08",
    region = M.REGION, endpoint = inst.endpoint, credentials = M.CREDENTIALS, max_attempts = 1 })
  inst.credentials = tide.run(function()
    iam:create_user({ UserName = "tide" }):await()
    local key = iam:create_access_key({ UserName = "tide" }):await().AccessKey
    iam:put_user_policy({ UserName = "tide", PolicyName = "all", PolicyDocument = tide.json.encode {
      Version = "2012-10-17",
      Statement = { { Effect = "Allow", Action = "*", Resource = "*" } } } }):await()
    return { access_key_id = key.AccessKeyId, secret_access_key = key.SecretAccessKey }
  end)
  return inst
end

--- Starts spec/support/aws_faults.py.
function M.faults()
  if instances.faults then return instances.faults end
  local dir = tmpdir("aws-faults")
  sh(("%spython3 %s/aws_faults.py --parent %d </dev/null >%s/port 2>%s/log &"):format(CLEAN, here, my_pid(), dir,
    dir))
  local line
  for _ = 1, 250 do
    line = (slurp(dir .. "/port") or ""):match("^(%d+ %d+)\n")
    if line then break end
    sh("sleep 0.02")
  end
  local port, pid = (line or ""):match("^(%d+) (%d+)$")
  if not port then
    local log = slurp(dir .. "/log") or ""
    sh("rm -rf " .. dir)
    error("aws_faults.py did not start:\n" .. log, 2)
  end
  local inst = instance("faults", tonumber(pid), tonumber(port), dir)
  inst.url = inst.endpoint
  return inst
end

return M
