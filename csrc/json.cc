/* json.cc -- tide.json: decode and encode on RapidJSON's SAX reader and
 * writer (header-only), with no document tree in between: the reader's
 * events build Lua values directly (json_decode.cc), and the encoder walks
 * Lua values and drives the writer (json_encode.cc).
 *
 * Numbers: JSON integers that fit int64 decode to Lua integers, exactly;
 * any other number (a fraction, an exponent, an integer beyond int64) to a
 * float. Lua integers encode without a fraction; floats with Grisu2, which
 * always reads back to the same double and is nearly always the shortest
 * such text ("1.0" stays a float). A number too large for a double (1e400)
 * is a decode error rather than inf, which JSON cannot write back.
 *
 * Strings are bytes, as Lua's are: invalid UTF-8 passes through decode and
 * encode unchanged (as with lua-cjson); escapes (\u00e9, surrogate pairs)
 * decode to UTF-8. A high surrogate escape without its low half is an
 * error; a lone low one decodes to its three-byte form, as RapidJSON 1.1
 * does (bytes that are not UTF-8, passed on like any other).
 *
 * Arrays decode to tables with the array metatable (core.json_array_mt),
 * so `[]` encodes back as `[]`; objects decode to plain tables and `null`
 * to the sentinel core.json_null. Nesting deeper than MAX_DEPTH is an
 * error both ways (never a C stack overflow: the reader is iterative).
 *
 * Errors and C++: these files are compiled without exceptions, and no Lua
 * error is raised while a RapidJSON frame with a destructor is live, except
 * a memory error. Even that one loses nothing: the reader's and writer's
 * buffers belong to a per-state box (a userdata, freed by its __gc), so the
 * frames it skips own nothing (the box then stays marked busy, and later
 * calls each use a fresh box: slower, still right). Every other failure (bad
 * input, a value that cannot be encoded) is recorded, the RapidJSON frames
 * return, and the error is raised from the plain Lua-facing functions.
 *
 * This file: the box, the null sentinel, the array metatable, tide.json.array
 * and the module's registration. Calls: Lua's C API and
 * tide_error_push (error.c). */
#include "json.h"

/* ---------------------------------------------------------------------------
 * The box: buffers that outlive a call */

static void slot_trim(json_slot *s) {
  if (s->cap > KEEP_BYTES) {
    free(s->mem);
    s->mem = NULL;
    s->cap = 0;
  }
}

static void slot_free(json_slot *s) {
  free(s->mem);
  s->mem = NULL;
  s->cap = 0;
}

static int box_gc(lua_State *L) {
  json_box *box = static_cast<json_box *>(luaL_checkudata(L, 1, JSON_BOX_MT));
  slot_free(&box->reader);
  slot_free(&box->output);
  slot_free(&box->levels);
  free(box->encoder);
  box->encoder = NULL;
  box->closed = 1;
  return 0;
}

/* Pushes a new empty box. */
static json_box *box_new(lua_State *L) {
  json_box *box = static_cast<json_box *>(lua_newuserdatauv(L, sizeof(json_box), 0));
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, JSON_BOX_MT);
  return box;
}

json_box *tide_json_box_take(lua_State *L) {
  json_box *box = static_cast<json_box *>(lua_touserdata(L, lua_upvalueindex(UP_BOX)));
  /* A finalizer that runs after the box's, at lua_close: memory taken now
   * would never be given back. */
  if (box->closed)
    luaL_error(L, "tide cannot be used any more: the Lua state is closing (this "
                  "finalizer runs after tide's own)");
  if (box->busy) box = box_new(L);
  box->busy = 1;
  box->reader.L = box->output.L = box->levels.L = L;
  return box;
}

void tide_json_box_give(json_box *box) {
  slot_trim(&box->reader);
  slot_trim(&box->output);
  slot_trim(&box->levels);
  box->busy = 0;
}

/* ---------------------------------------------------------------------------
 * tide.json.array, null, registration */

/* tide.json.array(t) -> t, marked to encode as an array (`[]` when empty). */
static int json_array(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getmetatable(L, 1)) {
    if (!lua_rawequal(L, -1, lua_upvalueindex(UP_ARRAY_MT)))
      return luaL_argerror(L, 1, "table has a metatable already");
    lua_pop(L, 1);
  } else {
    lua_pushvalue(L, lua_upvalueindex(UP_ARRAY_MT));
    lua_setmetatable(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "tide.json.null");
  return 1;
}

void tide_json_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"json_decode", tide_json_decode},
                                   {"json_encode", tide_json_encode},
                                   {"json_array", json_array},
                                   {NULL, NULL}};
  (void)ctx;
  /* stack: module */
  luaL_newmetatable(L, JSON_BOX_MT);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  box_new(L);

  lua_newuserdatauv(L, 0, 0); /* the null sentinel */
  luaL_newmetatable(L, JSON_NULL_MT);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "tide.json.null");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);

  luaL_newmetatable(L, JSON_ARRAY_MT);
  lua_pushliteral(L, "tide.json.array");
  lua_setfield(L, -2, "__name");
  /* stack: module, box, null, array_mt */
  lua_pushvalue(L, -2);
  lua_setfield(L, -5, "json_null");
  lua_pushvalue(L, -1);
  lua_setfield(L, -5, "json_array_mt");
  luaL_setfuncs(L, funcs, 3);
}
