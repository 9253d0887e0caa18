/* class.c -- the classes of C objects: tide_class_new (the one helper that
 * makes the metatables of tide's objects, with their methods and their
 * parent class) and core.interpose (the one way for the Lua layer to add or
 * wrap a method of a class made in C).
 *
 * May call: ctx.c (tide_setfuncs; and Lua). It sits beside ctx.c in the
 * bottom layer; ctx.c calls nothing here. */
#include <string.h>

#include "tide.h"

static const char classes_key = 'c'; /* registry: class name -> list of heirs */

void tide_class_new(lua_State *L, tide_ctx *ctx, const char *name, const char *parent,
                    const luaL_Reg *methods, const luaL_Reg *metamethods) {
  int mt;
  luaL_newmetatable(L, name);
  mt = lua_gettop(L);
  lua_newtable(L);
  if (parent) {
    /* Starts with the parent's methods, and is the parent's heir. */
    luaL_getmetatable(L, parent);
    lua_getfield(L, -1, "__index");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, mt + 1);
    }
    lua_pop(L, 2);
  }
  if (methods) tide_setfuncs(L, ctx, methods);
  lua_setfield(L, mt, "__index");
  if (metamethods) tide_setfuncs(L, ctx, metamethods);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &classes_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &classes_key);
  }
  lua_newtable(L);
  lua_setfield(L, -2, name);
  if (parent) {
    lua_getfield(L, -1, parent);
    lua_pushstring(L, name);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
  }
  lua_settop(L, mt);
}

/* Pushes the table where the objects of class `name` find key k: the
 * metatable for a metamethod, else the methods (__index; __methods for a
 * class whose __index is a function that looks there first). */
static void class_target(lua_State *L, const char *name, const char *k) {
  luaL_getmetatable(L, name);
  if (k[0] != '_' || k[1] != '_') {
    if (lua_getfield(L, -1, "__methods") != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_getfield(L, -1, "__index");
    }
    lua_remove(L, -2);
  }
}

/* core.interpose(class, name, fn) -> the previous method (or nil).
 *
 * The one way for the Lua layer to extend a class made in C: sets method
 * `name` of every object of `class` (a metamethod when it starts with "__")
 * and returns what was there, so the new one may call it. The class's heirs
 * (a task is a promise) get it too, unless they had their own. */
static int l_interpose(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *k = luaL_checkstring(L, 2);
  int heirs;
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &classes_key);
  if (lua_getfield(L, -1, name) != LUA_TTABLE)
    luaL_argerror(L, 1, lua_pushfstring(L, "no class named '%s'", name));
  heirs = lua_gettop(L); /* 5 */
  if (strcmp(k, "__index") == 0 || strcmp(k, "__gc") == 0 || strcmp(k, "__name") == 0 ||
      strcmp(k, "__metatable") == 0 || strcmp(k, "__mode") == 0)
    luaL_argerror(L, 2, "this metamethod belongs to the C core");
  class_target(L, name, k); /* 6 */
  lua_pushstring(L, k);
  lua_rawget(L, -2); /* 7: previous (raw: a class's methods may raise on misses) */
  lua_pushvalue(L, 3);
  lua_setfield(L, 6, k);
  for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, heirs); i <= n; i++) {
    lua_rawgeti(L, heirs, i);
    class_target(L, lua_tostring(L, -1), k);
    lua_pushstring(L, k);
    lua_rawget(L, -2);
    if (lua_rawequal(L, -1, 7)) {
      lua_pushvalue(L, 3);
      lua_setfield(L, -3, k);
    }
    lua_pop(L, 3);
  }
  lua_pushvalue(L, 7);
  return 1;
}

void tide_class_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"interpose", l_interpose}, {NULL, NULL}};
  tide_setfuncs(L, ctx, funcs);
}
