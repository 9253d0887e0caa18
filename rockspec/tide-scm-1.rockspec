-- `luarocks --lua-version=5.4 make rockspec/tide-scm-1.rockspec` from a
-- checkout builds tide.core with CMake and installs it with the Lua modules.
rockspec_format = "3.0"
package = "tide"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "async/await for Lua 5.4 on libuv and libcurl",
  detailed = [[
tide gives Lua 5.4 promises, coroutine tasks with await, timers,
combinators, cancellation and structured concurrency, driven by a libuv
event loop written in C.]],
  license = "MIT",
}
-- Every module tide loads at run time besides its own (tide.json is built
-- into tide.core): lua-expat, for the XML of AWS answers (tide.aws).
dependencies = {
  "lua >= 5.4, < 5.5",
  "luaexpat >= 1.4",
}
-- libuv, libcurl and libcrypto (SigV4's hashes) are found by CMake through
-- pkg-config (Debian keeps curl's headers in a multiarch directory that
-- LuaRocks does not search);
-- RapidJSON's headers (rapidjson-dev, needed at build time only) and a C++
-- compiler (for csrc/json.cc) through CMake too.
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    LUA_INCDIR = "$(LUA_INCDIR)",
    INSTALL_CMOD = "$(LIBDIR)",
    INSTALL_LMOD = "$(LUADIR)",
    TIDE_WERROR = "ON",
  },
}
