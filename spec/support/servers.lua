--- Real HTTP servers on loopback for the HTTP specs and benchmarks.
--
--     local servers = require "spec.support.servers"
--     local ngx = servers.nginx()      -- ngx.http, ngx.https, ngx.cert, ngx.socket, ngx:stop()
--     local flt = servers.faults()     -- flt.url, flt.url2 (127.0.0.2), flt.blackhole, flt:stop()
--
-- Both start once per Lua state (a second call returns the running one) and
-- are stopped by their `stop` (call it in a `teardown`). If this process dies
-- first, they exit by themselves within a second. Nothing here listens on
-- anything but 127.0.0.1 (and 127.0.0.2 for the fault server's twin).
--
-- nginx (Debian's /usr/sbin/nginx, one worker by default, config, logs, pid and files in
-- a temporary directory) serves:
--   /hello.json /bad.json /1k.bin /16m.bin /lines.txt /crlf.txt /empty.txt
--                         static files made at start (see M.pattern, M.lines)
--   /redirect             302 -> /hello.json
--   /redirect-loop        302 -> itself
--   /chain/<n>            302 -> /chain/<n-1> ... /chain/1 -> /hello.json: n redirects
--                         (1 <= n <= 20)
--   /to-https             302 -> https://127.0.0.1:<https port>/hello.json
--   /to-ftp               302 -> ftp://127.0.0.1:<http port>/hello.json
--   /status/<n>           status n (n in M.statuses) with body "status <n>\n"
--   /upload/<name>        PUT stores the body as <dir>/www/upload/<name> (201/204,
--                         no size limit); GET gives it back; DELETE removes it
-- The HTTP server also listens on the Unix socket `socket`; an HTTPS server
-- on `mtls_socket` wants a client certificate (`client_cert` with
-- `client_key`, encrypted with M.KEY_PASSWORD, or `client_key_plain`;
-- `other_cert`/`other_key` is one it does not accept).
-- gzip is on for text/plain and application/json (over 256 bytes). The
-- HTTPS server (HTTP/2 offered through ALPN) serves the same, with a
-- self-signed certificate for 127.0.0.1 (`cert`, usable as ca_file).
--
-- The fault server is spec/support/faults.py: see its header for endpoints.
local M = {}

M.statuses = { 200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504 }
M.CHAIN = 20

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec/support"

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function spit(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function my_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return pid
end

-- Helper programs run without the sanitizer runtime a test run may preload
-- (LeakSanitizer would report python's and nginx's own allocations).
local CLEAN = "env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS "
--- The `env ...` prefix that runs a helper program that way.
M.CLEAN_ENV = CLEAN

local function python()
  local f = io.open("/usr/bin/python3")
  if f then
    f:close()
    return CLEAN .. "/usr/bin/python3"
  end
  return CLEAN .. "python3"
end

--- n bytes of the 0..255 byte pattern that /1k.bin, /16m.bin and the fault
--- server's /big serve.
function M.pattern(n)
  local unit = {}
  for i = 0, 255 do unit[i + 1] = string.char(i) end
  unit = table.concat(unit)
  return (unit:rep(n // 256 + 1)):sub(1, n)
end

--- The lines of /lines.txt ("line 1" ... "line 20000").
M.LINES = 20000
function M.lines()
  local t = {}
  for i = 1, M.LINES do t[i] = "line " .. i end
  return t
end

M.HELLO = '{"hello": "world", "n": 42, "list": [1, 2, 3]}\n'

-- Kills pid when this process or pid itself is gone; polls twice a second.
local function watchdog(pid)
  sh(("sh -c 'while kill -0 %d 2>/dev/null && kill -0 %d 2>/dev/null; do sleep 0.5; done; "
    .. "kill %d 2>/dev/null' </dev/null >/dev/null 2>&1 &"):format(my_pid(), pid, pid))
end

-- Stops pid (TERM, then KILL after 5 s) and waits until it is gone.
local function kill_wait(pid)
  sh(("kill %d 2>/dev/null; for i in $(seq 100); do kill -0 %d 2>/dev/null || exit 0; sleep 0.05; done; "
    .. "kill -9 %d 2>/dev/null"):format(pid, pid, pid))
end

local function locations(http_port, https_port)
  local out = {
    "location = /redirect { return 302 /hello.json; }",
    "location = /redirect-loop { return 302 /redirect-loop; }",
    "location = /chain/1 { return 302 /hello.json; }",
    ("location = /to-https { return 302 https://127.0.0.1:%d/hello.json; }"):format(https_port),
    ("location = /to-ftp { return 302 ftp://127.0.0.1:%d/hello.json; }"):format(http_port),
    -- PUT stores the body under www/upload/ (any size), GET serves it back.
    "location /upload/ { dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 0; }",
  }
  for i = 2, M.CHAIN do
    out[#out + 1] = ("location = /chain/%d { return 302 /chain/%d; }"):format(i, i - 1)
  end
  for _, code in ipairs(M.statuses) do
    out[#out + 1] = ('location = /status/%d { return %d "status %d\\n"; }'):format(code, code, code)
  end
  return table.concat(out, "\n") .. "\n"
end

local function nginx_conf(dir, http_port, https_port, is_root, workers)
  return ([[
worker_processes %d;
daemon on;
pid %s/nginx.pid;
error_log %s/error.log warn;
%s
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  http2_max_requests 1000000;
  client_body_temp_path %s/tmp/body;
  proxy_temp_path %s/tmp/proxy;
  fastcgi_temp_path %s/tmp/fastcgi;
  uwsgi_temp_path %s/tmp/uwsgi;
  scgi_temp_path %s/tmp/scgi;
  gzip on;
  gzip_types text/plain application/json;
  gzip_min_length 256;
  server {
    listen 127.0.0.1:%d;
    listen unix:%s/nginx.sock;
    root %s/www;
    include %s/locations.conf;
  }
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s/cert.pem;
    ssl_certificate_key %s/key.pem;
    root %s/www;
    include %s/locations.conf;
  }
}
]]):format(workers, dir, dir, is_root and "user root root;" or "", dir, dir, dir, dir, dir,
    http_port, dir, dir, dir, https_port, dir, dir, dir, dir)
end

-- A server on the Unix socket <dir>/mtls.sock that wants a client
-- certificate signed by the spec's CA (<dir>/ca.pem); nginx answers 400
-- to a client without one.
local function mtls_server(dir)
  return ([[
  server {
    listen unix:%s/mtls.sock ssl;
    ssl_certificate %s/cert.pem;
    ssl_certificate_key %s/key.pem;
    ssl_client_certificate %s/ca.pem;
    ssl_verify_client on;
    root %s/www;
    include %s/locations.conf;
  }
]]):format(dir, dir, dir, dir, dir, dir)
end

M.KEY_PASSWORD = "s3cret pass"

-- A CA, and a client certificate it signed: client.pem with its key
-- encrypted (client.key, password M.KEY_PASSWORD) and in the clear
-- (client-plain.key); other.pem/other.key: one the CA never signed.
local function client_certs(dir)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
  local cmds = {
    ("openssl req -x509 %s -nodes -days 2 -subj /CN=tide-test-ca -keyout %s/ca.key -out %s/ca.pem"):format(
      ec, dir, dir),
    ("openssl req %s -subj /CN=tide-client -keyout %s/client.key -passout 'pass:%s' -out %s/client.csr"):format(
      ec, dir, M.KEY_PASSWORD, dir),
    ("openssl x509 -req -in %s/client.csr -CA %s/ca.pem -CAkey %s/ca.key -CAcreateserial -days 2 -out %s/client.pem")
      :format(dir, dir, dir, dir),
    ("openssl pkey -in %s/client.key -passin 'pass:%s' -out %s/client-plain.key"):format(dir, M.KEY_PASSWORD, dir),
    ("openssl req -x509 %s -nodes -days 2 -subj /CN=stranger -keyout %s/other.key -out %s/other.pem"):format(
      ec, dir, dir),
  }
  for _, cmd in ipairs(cmds) do
    assert(sh(CLEAN .. cmd .. (" >>%s/openssl.log 2>&1"):format(dir)),
      "openssl failed: " .. cmd .. "\n" .. (slurp(dir .. "/openssl.log") or "?"))
  end
end

--- The sha256//base64 pin of the public key in the certificate at path
--- (for pinned_pubkey).
function M.pubkey_pin(path)
  local out = capture((CLEAN .. "sh -c 'openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der "
    .. "| openssl dgst -sha256 -binary | base64'"):format(path))
  return "sha256//" .. assert(out:match("[%w+/=]+"), "no pin for " .. path)
end

local nginx_instance

--- Starts nginx (once): returns {http=, https=, cert=, socket=, dir=, http_port=,
--- https_port=, stop=}. Raises with nginx's own message if it cannot start.
--- opts.workers: worker processes (default 1; benchmarks may want more).
function M.nginx(opts)
  if nginx_instance then return nginx_instance end
  local workers = opts and opts.workers or 1
  local dir = capture("mktemp -d /tmp/tide-nginx-XXXXXX"):match("[^\n]+")
  assert(dir, "mktemp failed")
  assert(sh(("mkdir -p %s/www %s/tmp"):format(dir, dir)))
  local www = dir .. "/www"
  spit(www .. "/hello.json", M.HELLO)
  spit(www .. "/bad.json", '{"hello": ')
  spit(www .. "/1k.bin", M.pattern(1024))
  spit(www .. "/16m.bin", M.pattern(16 * 1024 * 1024))
  spit(www .. "/lines.txt", table.concat(M.lines(), "\n") .. "\n")
  spit(www .. "/crlf.txt", "one\r\ntwo\r\n\r\nfour\r\nno newline at the end")
  spit(www .. "/empty.txt", "")
  -- A self-signed certificate for 127.0.0.1 (CN and IP SAN), two days long.
  assert(sh((CLEAN .. "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
    .. "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
    .. ">%s/openssl.log 2>&1"):format(dir, dir, dir)),
    "openssl could not make a certificate: " .. (slurp(dir .. "/openssl.log") or "?"))
  client_certs(dir)
  local is_root = capture("id -u"):match("^0\n") ~= nil
  local http_port, https_port
  for _ = 1, 30 do
    http_port, https_port = math.random(20000, 60000), math.random(20000, 60000)
    if http_port ~= https_port then
      -- A failed try can leave its Unix sockets behind, and nginx would then
      -- find them "in use" at every later try.
      sh(("rm -f %s/*.sock"):format(dir))
      spit(dir .. "/locations.conf", locations(http_port, https_port))
      spit(dir .. "/nginx.conf", (nginx_conf(dir, http_port, https_port, is_root, workers):gsub("}\n$",
        function() return mtls_server(dir) .. "}\n" end)))
      if sh((CLEAN .. "/usr/sbin/nginx -p %s -c %s/nginx.conf -e %s/error.log >%s/start.log 2>&1"):format(
            dir, dir, dir, dir)) then
        break
      end
      local log = (slurp(dir .. "/start.log") or "") .. (slurp(dir .. "/error.log") or "")
      if not log:find("Address already in use", 1, true) then
        sh("rm -rf " .. dir)
        error("nginx did not start:\n" .. log)
      end
    end
    http_port = nil
  end
  assert(http_port, "nginx: no free ports after 30 tries")
  local pid
  for _ = 1, 100 do
    pid = tonumber(slurp(dir .. "/nginx.pid") or "")
    if pid then break end
    sh("sleep 0.02")
  end
  assert(pid, "nginx started but wrote no pid file")
  watchdog(pid)
  local inst = {
    http = ("http://127.0.0.1:%d"):format(http_port),
    https = ("https://127.0.0.1:%d"):format(https_port),
    http_port = http_port, https_port = https_port,
    cert = dir .. "/cert.pem", dir = dir, pid = pid, socket = dir .. "/nginx.sock",
    mtls_socket = dir .. "/mtls.sock", client_cert = dir .. "/client.pem", client_key = dir .. "/client.key",
    client_key_plain = dir .. "/client-plain.key", other_cert = dir .. "/other.pem", other_key = dir .. "/other.key",
  }
  function inst.stop()
    if not inst.pid then return end
    kill_wait(inst.pid)
    inst.pid = nil
    sh("rm -rf " .. dir)
    if nginx_instance == inst then nginx_instance = nil end
  end
  -- Wait until it answers (the master opened the sockets; the worker may lag).
  for _ = 1, 200 do
    if sh((CLEAN .. "bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null"):format(http_port)) then break end
    sh("sleep 0.02")
  end
  nginx_instance = inst
  return inst
end

local faults_instance

--- Starts spec/support/faults.py (once): returns {url=, url2=, blackhole=,
--- port=, stop=} (url on 127.0.0.1, url2 on 127.0.0.2, the same port;
--- blackhole: a port where connecting neither succeeds nor fails).
function M.faults()
  if faults_instance then return faults_instance end
  -- In the background, not through io.popen: closing a popen'ed file waits
  -- for the process, which would hang a Lua state that exits without stop.
  local dir = capture("mktemp -d /tmp/tide-faults-XXXXXX"):match("[^\n]+")
  assert(dir, "mktemp failed")
  assert(sh(("%s %s/faults.py --parent %d </dev/null >%s/port 2>%s/log &"):format(
    python(), here, my_pid(), dir, dir)))
  local line
  for _ = 1, 250 do
    line = (slurp(dir .. "/port") or ""):match("^(%d+ %d+ %d+)\n")
    if line then break end
    sh("sleep 0.02")
  end
  local port, pid, hole = (line or ""):match("^(%d+) (%d+) (%d+)$")
  if not port then
    local log = slurp(dir .. "/log") or ""
    sh("rm -rf " .. dir)
    error("faults.py did not start:\n" .. log)
  end
  port, pid = tonumber(port), tonumber(pid)
  local inst = {
    url = ("http://127.0.0.1:%d"):format(port),
    url2 = ("http://127.0.0.2:%d"):format(port),
    blackhole = ("http://127.0.0.1:%d"):format(tonumber(hole)),
    port = port, pid = pid, dir = dir,
  }
  function inst.stop()
    if not inst.pid then return end
    kill_wait(inst.pid)
    inst.pid = nil
    sh("rm -rf " .. dir)
    if faults_instance == inst then faults_instance = nil end
  end
  faults_instance = inst
  return inst
end

local socks_instance

--- Starts spec/support/socks5.py (once): returns {url=, port=, log=,
--- requests=, stop=}; `requests()` lists the destinations asked for
--- ("name:port"), names as the client sent them (resolved by the proxy).
function M.socks5()
  if socks_instance then return socks_instance end
  local dir = capture("mktemp -d /tmp/tide-socks-XXXXXX"):match("[^\n]+")
  assert(dir, "mktemp failed")
  assert(sh(("%s %s/socks5.py --log %s/requests --parent %d </dev/null >%s/port 2>%s/log &"):format(
    python(), here, dir, my_pid(), dir, dir)))
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
    error("socks5.py did not start:\n" .. log)
  end
  local inst = { port = tonumber(port), pid = tonumber(pid), dir = dir, log = dir .. "/requests" }
  inst.url = ("socks5h://127.0.0.1:%d"):format(inst.port)
  function inst.requests()
    local list = {}
    for l in (slurp(inst.log) or ""):gmatch("[^\n]+") do list[#list + 1] = l end
    return list
  end
  function inst.stop()
    if not inst.pid then return end
    kill_wait(inst.pid)
    inst.pid = nil
    sh("rm -rf " .. dir)
    if socks_instance == inst then socks_instance = nil end
  end
  socks_instance = inst
  return inst
end

--- A loopback port nothing listens on (bound, then closed, by python).
function M.closed_port()
  local out = capture(python() .. [[ -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); ]]
    .. [[print(s.getsockname()[1])"]])
  return tonumber(out:match("%d+"))
end

--- Stops every server this module started.
function M.stop_all()
  if nginx_instance then nginx_instance.stop() end
  if faults_instance then faults_instance.stop() end
  if socks_instance then socks_instance.stop() end
end

-- Small file and process helpers, for the other support files and specs.
M.spit, M.slurp, M.my_pid = spit, slurp, my_pid

return M
