/* error.c -- tide.error objects.
 *
 * Runtime failures (timeouts, cancellation, network, deadlock, ...) are
 * tables with metatable tide.error: `kind`, `message`, optional `cause` and
 * kind-specific fields. Their __tostring shows the cause chain. Errors raised
 * by user code never pass through here: they travel unchanged.
 *
 * May call: ctx.c (tide_setfuncs). */
#include <stdarg.h>
#include <string.h>

#include "tide.h"

static void push_error_v(lua_State *L, const char *kind, const char *fmt, va_list ap) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, TIDE_ERROR_MT);
}

void tide_error_push(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error_v(L, kind, fmt, ap);
  va_end(ap);
}

void tide_error_push_fs(lua_State *L, int err, const char *call, const char *path) {
  if (path)
    tide_error_push(L, "fs", "%s: %s (%s)", path, uv_strerror(err), call);
  else
    tide_error_push(L, "fs", "%s (%s)", uv_strerror(err), call);
  lua_pushstring(L, uv_err_name(err));
  lua_setfield(L, -2, "code");
  lua_pushinteger(L, err);
  lua_setfield(L, -2, "errno");
  lua_pushstring(L, call);
  lua_setfield(L, -2, "syscall");
  if (path) {
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
  }
}

int tide_usage_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error_v(L, "usage", fmt, ap);
  va_end(ap);
  return lua_error(L);
}

int tide_is_error(lua_State *L, int idx, const char *kind) {
  int ok;
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, TIDE_ERROR_MT);
  ok = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (ok && kind) {
    lua_getfield(L, idx, "kind");
    ok = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), kind) == 0;
    lua_pop(L, 1);
  }
  return ok;
}

/* The chain is bounded so that a cycle of causes cannot loop forever. */
#define CAUSE_DEPTH 16
/* The most causes of an aggregate error that its text lists. */
#define AGGREGATE_SHOWN 16

static int tostring_unprotected(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* Pushes tostring(value at idx), or a fallback text when that raises: the
 * text of an error never fails because of a cause. */
static void push_safe_tostring(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, tostring_unprotected);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s whose __tostring raised an error)", luaL_typename(L, idx));
  }
}

/* Appends to the text at the top the causes of the aggregate error at e
 * (its `errors` list), one per line. */
static void add_aggregate_causes(lua_State *L, int e) {
  int text = lua_gettop(L), list = text + 1;
  lua_Integer n;
  if (lua_getfield(L, e, "errors") != LUA_TTABLE) {
    lua_settop(L, text);
    return;
  }
  lua_getfield(L, list, "n");
  n = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : (lua_Integer)lua_rawlen(L, list);
  lua_pop(L, 1);
  for (lua_Integer i = 1; i <= n && i <= AGGREGATE_SHOWN; i++) {
    lua_pushvalue(L, text);
    lua_rawgeti(L, list, i);
    push_safe_tostring(L, -1);
    lua_pushfstring(L, "\n  [%I] %s", i, lua_tostring(L, -1));
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_concat(L, 2);
    lua_replace(L, text);
  }
  if (n > AGGREGATE_SHOWN) {
    lua_pushvalue(L, text);
    lua_pushfstring(L, "\n  ... and %I more", n - AGGREGATE_SHOWN);
    lua_concat(L, 2);
    lua_replace(L, text);
  }
  lua_settop(L, text);
}

static int error_tostring(lua_State *L) {
  lua_settop(L, 1);
  lua_pushvalue(L, 1);    /* 2: the error being printed */
  lua_pushliteral(L, ""); /* 3: the text so far */
  for (int depth = 0; depth < CAUSE_DEPTH; depth++) {
    if (depth > 0) {
      lua_pushliteral(L, "\ncaused by: ");
      lua_concat(L, 2);
    }
    if (!tide_is_error(L, 2, NULL)) {
      push_safe_tostring(L, 2);
      lua_concat(L, 2);
      break;
    }
    lua_getfield(L, 2, "kind");
    lua_getfield(L, 2, "message");
    lua_pushfstring(L, "%s: %s", lua_isstring(L, 4) ? lua_tostring(L, 4) : "error",
                    lua_isstring(L, 5) ? lua_tostring(L, 5) : "?");
    lua_replace(L, 4);
    lua_pop(L, 1);
    lua_concat(L, 2);
    if (tide_is_error(L, 2, "aggregate")) add_aggregate_causes(L, 2);
    if (lua_getfield(L, 2, "cause") == LUA_TNIL) break;
    lua_replace(L, 2);
  }
  lua_settop(L, 3);
  return 1;
}

/* tide.error(kind, message [, fields]) -> a new tide.error. `fields` (a
 * table) is copied in: cause, status, url, ... */
static int error_new(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  const char *msg = luaL_optstring(L, 2, kind);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_createtable(L, 0, 4);
  if (!lua_isnoneornil(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
  }
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, TIDE_ERROR_MT);
  return 1;
}

/* tide.is_error(v [, kind]) */
static int error_is(lua_State *L) {
  const char *kind = luaL_optstring(L, 2, NULL);
  lua_pushboolean(L, tide_is_error(L, 1, kind));
  return 1;
}

void tide_error_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {
      {"error", error_new}, {"is_error", error_is}, {NULL, NULL}};
  luaL_newmetatable(L, TIDE_ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setfield(L, -2, "error_mt"); /* core.error_mt, for the Lua layer */
  tide_setfuncs(L, ctx, funcs);
}
