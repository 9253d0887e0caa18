-- A client with hooks and a cookie jar: on_request awaits a (pretend) token
-- service and adds an Authorization header to every request; on_response
-- logs each answer; `cookies = true` keeps the session cookie the login
-- sets, for this client only.
--
--   TIDE_DEMO_URL=... lua5.4 examples/http_client_hooks.lua   (scripts/local-api's URL)
local tide = require "tide"

local base = os.getenv("TIDE_DEMO_URL")
if not base then
  io.stderr:write("usage: TIDE_DEMO_URL=http://127.0.0.1:PORT lua5.4 examples/http_client_hooks.lua\n")
  os.exit(2)
end

local function fetch_token()
  tide.sleep(0.01):await() -- a token service, say
  return "t0k3n"
end

tide.run(function()
  local api <close> = tide.http.client {
    base_url = base,
    cookies = true,
    on_request = function(req) req.headers.Authorization = "Bearer " .. fetch_token() end,
    on_response = function(res, req)
      print(("%s %s -> %d"):format(req.method, req.url:match("/api/.*"), res.status))
    end,
  }
  api:post("/api/login", { body = "" }):await()
  local me = api:get("/api/whoami"):await():json()
  print("server saw cookie: " .. me.cookie .. ", auth: " .. me.auth)
  local jar = api:cookies()
  print(("jar: %d cookie, %s=%s for %s"):format(#jar, jar[1].name, jar[1].value, jar[1].path))
  local other = tide.http.client { base_url = base }
  print("another client sends cookie: " .. (other:get("/api/whoami"):await():json().cookie == "" and "none" or "yes"))
  other:close()
end)
