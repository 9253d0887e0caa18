-- TLS with a client certificate and a pinned server key. The local service
-- runs HTTPS for https://localhost (on a Unix socket, so nothing but this
-- machine is involved) with a certificate from its own CA, and wants a
-- client certificate from that CA too.
--
--   TIDE_DEMO_DIR=... lua5.4 examples/http_tls_client_cert.lua   (scripts/local-api's DIR)
local tide = require "tide"

local dir = os.getenv("TIDE_DEMO_DIR")
if not dir then
  io.stderr:write("usage: TIDE_DEMO_DIR=/tmp/tide-local-api-... lua5.4 examples/http_tls_client_cert.lua\n")
  os.exit(2)
end

local function read(path)
  local f <close> = assert(io.open(path))
  return (f:read("l"))
end

tide.run(function()
  local url = "https://localhost/api/whoami"
  -- Each request: the socket, the CA that signed the server's certificate,
  -- and what the call adds.
  local function get(extra)
    local opts = { unix_socket = dir .. "/tls.sock", ca_file = dir .. "/ca.pem" }
    for k, v in pairs(extra) do opts[k] = v end
    return tide.http.get(url, opts)
  end
  local mine = { cert = dir .. "/client.pem", key = dir .. "/client.key" }

  -- With the certificate and its key, the server knows who we are.
  local me = get(mine):await():json()
  print(("with a certificate: %s, %s"):format(me.client, me.verified))

  -- pinned_pubkey: the server's key must be the one we expect.
  mine.pinned_pubkey = read(dir .. "/server.pin")
  print(("pinned to the right key: HTTP %d"):format(get(mine):await().status))
  mine.pinned_pubkey = "sha256//" .. string.rep("A", 43) .. "="
  local ok, err = pcall(function() return get(mine):await() end)
  print(("pinned to another key: ok=%s, %s error %s"):format(ok, err.kind, err.code))

  -- Without a certificate, nginx answers 400 (an answer, not an error).
  local anon = get({}):await()
  print(("without: HTTP %d, %s"):format(anon.status, anon.body:match("<title>(.-)</title>")))
end)
