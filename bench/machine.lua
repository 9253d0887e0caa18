--- Facts about the machine and the software a benchmark run used, for the
--- head of bench/RESULTS.md: figures only mean something next to these.
local M = {}

-- First line that `cmd` prints (stderr too), or "-" when it prints nothing.
local function first_line(cmd)
  local p = io.popen(cmd .. " 2>&1", "r")
  if not p then return "-" end
  local line = p:read("l")
  p:close()
  return line and line ~= "" and line or "-"
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

--- -> list of { name, value }, in display order.
function M.facts()
  local cpu = read("/proc/cpuinfo"):match("model name%s*:%s*([^\n]+)") or "-"
  local mem = read("/proc/meminfo"):match("MemTotal:%s*(%d+) kB")
  local commit = first_line("git rev-parse --short HEAD")
  if first_line("git status --porcelain -- csrc lua CMakeLists.txt | head -1") ~= "-" then
    commit = commit .. " (with uncommitted changes to the core)"
  end
  return {
    { "date", os.date("!%Y-%m-%d %H:%M UTC") },
    { "tide", commit },
    { "CPU", cpu },
    { "cores (nproc)", first_line("nproc") },
    { "memory", mem and ("%.1f GiB"):format(tonumber(mem) / 1048576) or "-" },
    { "kernel", first_line("uname -sr") },
    { "OS", first_line(". /etc/os-release && echo \"$PRETTY_NAME\"") },
    { "Lua", (first_line("lua5.4 -v"):match("Lua [%d.]+") or "-") },
    { "libuv", first_line("pkg-config --modversion libuv") },
    { "gcc", first_line("gcc -dumpfullversion") },
    { "luv (lua-luv)", first_line("dpkg-query -W -f='${Version}' lua-luv") },
    { "cqueues (lua-cqueues)", first_line("dpkg-query -W -f='${Version}' lua-cqueues") },
    { "Node", first_line("node --version") },
    { "Python", first_line("/usr/bin/python3 --version") },
    { "uvloop", first_line("/usr/bin/python3 -c 'import uvloop; print(uvloop.__version__)'") },
    { "libcurl", first_line("pkg-config --modversion libcurl") },
    { "nginx", (first_line("nginx -v"):match("nginx/(%S+)") or "-") },
    { "aiohttp", first_line("/usr/bin/python3 -c 'import aiohttp; print(aiohttp.__version__)'") },
    { "lua-http", first_line("dpkg-query -W -f='${Version}' lua-http") },
    { "lua-cjson", first_line("dpkg-query -W -f='${Version}' lua-cjson") },
    { "RapidJSON (rapidjson-dev)", first_line("dpkg-query -W -f='${Version}' rapidjson-dev") },
  }
end

return M
