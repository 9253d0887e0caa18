--- W8 for lua-cjson (Debian's 2.1.0): lua5.4 bench/peers/lua/cjson_w8.lua N
--- (loops: bench/lib/json_w8.lua). lua-cjson decodes every number to a float.
require("json_w8").run("cjson", require "cjson", "float")
