-- Through a SOCKS5 proxy: with `proxy = "socks5h://host:port"` the proxy
-- resolves the host name (socks5:// would resolve it here first). The
-- spec's small proxy knows *.tide.test as 127.0.0.1, so
-- http://api.tide.test:PORT reaches the local service, a name this
-- machine's resolver never sees.
--
--   TIDE_DEMO_URL=... TIDE_DEMO_PROXY=socks5h://127.0.0.1:P lua5.4 examples/http_socks_proxy.lua
local tide = require "tide"

local base, proxy = os.getenv("TIDE_DEMO_URL"), os.getenv("TIDE_DEMO_PROXY")
if not (base and proxy) then
  io.stderr:write("usage: TIDE_DEMO_URL=http://127.0.0.1:PORT TIDE_DEMO_PROXY=socks5h://127.0.0.1:P"
    .. " lua5.4 examples/http_socks_proxy.lua\n")
  os.exit(2)
end

tide.run(function()
  local url = base:gsub("127%.0%.0%.1", "api.tide.test") .. "/api/users/7"
  local res = tide.http.get(url, { proxy = proxy }):await()
  print(("GET %s via %s: HTTP %d, name %s"):format(url:match("//([^:/]+)"), proxy:match("^[%w]+"), res.status,
    res:json().name))
end)
