/* report.c -- reporting: where objects were made (origins), slow steps
 * (tide.debug{slow=}), and handing errors nobody handled to the
 * on_unhandled handler (tide_report), with the tostring that never fails
 * and the test for a script that the default handler uses.
 *
 * May call: ring.c (and Lua, libuv). It sits below ctx.c: ctx.c (the
 * drain, callbacks, the default handler) and the files above call it; it
 * calls nothing in ctx.c, so everything it needs comes as arguments. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tide.h"

/* ---------------------------------------------------------------------------
 * Origins and slow steps */

void tide_origin_record(lua_State *L, tide_ctx *ctx, int obj) {
  lua_Debug ar;
  obj = lua_absindex(L, obj);
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    if (ctx->lib_len && strncmp(ar.source, ctx->lib, ctx->lib_len) == 0) continue;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->origins);
    lua_pushvalue(L, obj);
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return;
  }
}

void tide_origin_push(lua_State *L, tide_ctx *ctx, int obj) {
  obj = lua_absindex(L, obj);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->origins);
  lua_pushvalue(L, obj);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

void tide_slow_check(lua_State *L, tide_ctx *ctx, uint64_t t0, const char *what,
                     lua_State *co) {
  uint64_t dt = uv_hrtime() - t0;
  int top = lua_gettop(L);
  if (dt <= ctx->slow_ns || ctx->on_slow == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_slow);
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, (double)dt / 1e9);
  lua_setfield(L, -2, "seconds");
  lua_pushstring(L, what);
  lua_setfield(L, -2, "what");
  /* A task's traceback shows where its step ended; a callback has returned
   * and `what` names it. */
  if (co) {
    luaL_traceback(L, co, NULL, 0);
    lua_setfield(L, -2, "traceback");
  }
  /* A handler that raises is reported like a callback's error. */
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) tide_report(L, ctx, -1, 0, 0);
  lua_settop(L, top);
}

/* ---------------------------------------------------------------------------
 * Unhandled rejections */

static int tostring_unprotected(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* Pushes tostring(value at idx), or a fallback text when that raises (a
 * __tostring that fails, or runs out of memory): reporting never fails. */
const char *tide_safe_tostring(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, tostring_unprotected);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s whose __tostring raised an error)", luaL_typename(L, idx));
  }
  return lua_tostring(L, -1);
}

/* Whether a script runs (lua5.4 file.lua, lua5.4 -, lua5.4 -e code, code
 * piped to lua5.4), rather than the interactive REPL (lua5.4, lua5.4 -i) or
 * a host that sets no `arg`: lua.c's global arg has the script at 0 and
 * the interpreter's own arguments below it. */
int tide_in_script(lua_State *L) {
  int script = 0, e = 0, i = 0, top = lua_gettop(L);
  if (lua_getglobal(L, "arg") != LUA_TTABLE) {
    lua_settop(L, top);
    return 0;
  }
  script = lua_rawgeti(L, -1, -1) != LUA_TNIL; /* a script name at arg[0] */
  lua_pop(L, 1);
  for (lua_Integer k = script ? -1 : 1;; k += script ? -1 : 1) {
    const char *a;
    if (lua_rawgeti(L, -1, k) != LUA_TSTRING) break;
    a = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (strcmp(a, "-i") == 0) i = 1;
    if (strncmp(a, "-e", 2) == 0) e = 1;
  }
  lua_settop(L, top);
  if (i) return 0;
  return script || e || !isatty(STDIN_FILENO);
}

int tide_interactive(lua_State *L) {
  int top = lua_gettop(L), has_arg = lua_getglobal(L, "arg") == LUA_TTABLE;
  lua_settop(L, top);
  return has_arg && !tide_in_script(L);
}

void tide_report(lua_State *L, tide_ctx *ctx, int err, int p, int tb) {
  err = lua_absindex(L, err);
  if (p) p = lua_absindex(L, p);
  if (tb) tb = lua_absindex(L, tb);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_unhandled);
  lua_pushvalue(L, err);
  if (p)
    lua_pushvalue(L, p);
  else
    lua_pushnil(L);
  if (tb)
    lua_pushvalue(L, tb);
  else
    lua_pushnil(L);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    /* A failing handler must still not lose anything. */
    fprintf(stderr, "tide: the on_unhandled handler raised: %s\n",
            tide_safe_tostring(L, -1));
    lua_pop(L, 2);
  }
}

void tide_report_unhandled(lua_State *L, tide_ctx *ctx, int err, int p) {
  tide_report(L, ctx, err, p, 0);
}

void tide_track_rejection(lua_State *L, tide_ctx *ctx, int p, tide_promise *pr) {
  if (pr->flags & (TIDE_F_TRACKED | TIDE_F_QUIET)) return;
  pr->flags |= TIDE_F_TRACKED;
  lua_pushvalue(L, p);
  tide_ring_push(L, &ctx->rejections, 1);
}
