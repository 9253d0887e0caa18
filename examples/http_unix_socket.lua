-- HTTP over a Unix socket, as the Docker API is reached: `unix_socket`
-- names the socket, and the URL still gives the Host header and the path.
-- The local service listens on one too.
--
--   TIDE_DEMO_SOCKET=/path/api.sock lua5.4 examples/http_unix_socket.lua   (scripts/local-api's DIR/api.sock)
local tide = require "tide"

local socket = os.getenv("TIDE_DEMO_SOCKET")
if not socket then
  io.stderr:write("usage: TIDE_DEMO_SOCKET=/path/to/api.sock lua5.4 examples/http_unix_socket.lua\n")
  os.exit(2)
end

tide.run(function()
  local res = tide.http.get("http://localhost/api/users/7", { unix_socket = socket }):await()
  print(("GET /api/users/7 over %s: HTTP %d, name %s"):format(socket:match("[^/]+$"), res.status, res:json().name))

  -- unix_socket is a request option: with a client, each request names it.
  local api <close> = tide.http.client { base_url = "http://localhost" }
  local orders = api:get("/api/orders", { unix_socket = socket }):await():json()
  print(("GET /api/orders over the socket: %d orders"):format(#orders))

  -- A socket nobody listens on is a network error, as a refused connection.
  local ok, err = pcall(function()
    return tide.http.get("http://localhost/", { unix_socket = socket .. ".missing" }):await()
  end)
  print(("missing socket: ok=%s, %s error %s"):format(ok, err.kind, err.code))
end)
