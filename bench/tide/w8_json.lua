--- W8 for tide.json: lua5.4 bench/tide/w8_json.lua N (loops: bench/lib/json_w8.lua).
require("json_w8").run("tide", require("tide").json, "integer")
