/* core.c -- luaopen_tide_core: creates the context of this lua_State and
 * wires the parts into the private module table `tide.core`. The public
 * module is lua/tide/init.lua.
 *
 * May call: every file's *_open, in layer order (each registers its reaction
 * kinds, events and module hooks as it opens). */
#include "tide.h"

static const char module_key = 'm';

TIDE_EXPORT int luaopen_tide_core(lua_State *L);

TIDE_EXPORT int luaopen_tide_core(lua_State *L) {
  tide_ctx *ctx;
  /* Loaded twice into one state (package.loaded cleared): same module. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key) == LUA_TTABLE) return 1;
  lua_pop(L, 1);
  ctx = tide_ctx_new(L);
  lua_newtable(L);
  tide_ctx_open(L, ctx);
  tide_class_open(L, ctx);
  tide_error_open(L, ctx);
  tide_promise_open(L, ctx);
  tide_op_open(L, ctx);
  tide_task_open(L, ctx);
  tide_combinators_open(L, ctx);
  tide_timer_open(L, ctx);
  tide_fs_open(L, ctx);
  tide_http_open(L, ctx);
  tide_json_open(L, ctx);
  tide_sigv4_open(L, ctx);
  tide_proc_open(L, ctx);
  tide_loop_open(L, ctx);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
  return 1;
}
