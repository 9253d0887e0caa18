/* combinators.c -- tide.all, all_settled, race and any, with the semantics
 * of their JavaScript namesakes: input order kept, plain values allowed,
 * thenables adopted, empty lists as in JS. A list's `n` field, when set,
 * gives its length (holes count as nil values). Results carry `.n`.
 *
 * all/all_settled/any subscribe one slot per input promise: a small userdata
 * that knows its index and the aggregate promise. race subscribes the result
 * promise itself, which passes the first outcome through.
 *
 * May call: ctx.c, error.c, promise.c. It registers the TIDE_K_SLOT
 * reaction. */
#include "tide.h"

typedef enum { MODE_ALL, MODE_ALL_SETTLED, MODE_ANY } agg_mode;

/* The result promise of all/all_settled/any. */
enum { AGG_UV_RESULTS = 2 }; /* after TIDE_UV_STATE: results (for any, errors) */
typedef struct aggregate {
  tide_promise promise;
  uint8_t mode;
  lua_Integer n, remaining;
} aggregate;

typedef struct slot {
  tide_promise header; /* kind TIDE_K_SLOT, so tide_react can dispatch */
  lua_Integer index;
} slot;
enum { SLOT_UV_AGGREGATE = 1 }; /* a slot is no promise: its only user value */

static lua_Integer list_length(lua_State *L, int idx) {
  lua_Integer n;
  int is_int = 0;
  if (lua_getfield(L, idx, "n") == LUA_TNUMBER) {
    n = lua_tointegerx(L, -1, &is_int); /* 2.0 counts, as with Lua's own functions */
    lua_pop(L, 1);
    if (!is_int) luaL_argerror(L, idx, "field 'n' must be an integer");
    if (n < 0) luaL_argerror(L, idx, "field 'n' must not be negative");
  } else {
    lua_pop(L, 1);
    n = luaL_len(L, idx);
  }
  if (n > TIDE_MAX_COUNT)
    luaL_argerror(L, idx, lua_pushfstring(L, "more than %I inputs", TIDE_MAX_COUNT));
  return n;
}

/* Leaves a promise for list item i on top: the item itself if it is a tide
 * promise, one adopting it if it is a thenable, or (when wrap) one already
 * fulfilled with it. Without wrap, a plain value is pushed as it is and 0
 * is returned. */
static int push_input(lua_State *L, tide_ctx *ctx, int list, lua_Integer i, int wrap) {
  lua_geti(L, list, i);
  if (tide_promise_from(L, ctx, -1)) return 1;
  if (!wrap) return 0;
  /* As in JS, a plain value takes its turn in list order, like a promise
   * that is already fulfilled. */
  tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE, 1, NULL);
  lua_insert(L, -2);
  tide_settle(L, ctx, -2, TIDE_FULFILLED, -1);
  lua_pop(L, 1);
  return 1;
}

/* Settles the aggregate at a once every input has answered. */
static void finish(lua_State *L, tide_ctx *ctx, int a) {
  aggregate *agg = lua_touserdata(L, a);
  lua_getiuservalue(L, a, AGG_UV_RESULTS);
  lua_pushinteger(L, agg->n);
  lua_setfield(L, -2, "n");
  if (agg->mode == MODE_ANY) {
    tide_error_push(L, "aggregate", "all %I promises were rejected", agg->n);
    lua_insert(L, -2);
    lua_setfield(L, -2, "errors");
    tide_settle(L, ctx, a, TIDE_REJECTED, -1);
  } else {
    tide_settle(L, ctx, a, TIDE_FULFILLED, -1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setiuservalue(L, a, AGG_UV_RESULTS);
}

/* Records the outcome (state st, value at v) of input i. */
static void record(lua_State *L, tide_ctx *ctx, int a, lua_Integer i, int st, int v) {
  aggregate *agg = lua_touserdata(L, a);
  if (agg->promise.state != TIDE_PENDING) return;
  v = lua_absindex(L, v);
  if (agg->mode == MODE_ALL && st == TIDE_REJECTED) {
    tide_settle(L, ctx, a, TIDE_REJECTED, v);
    return;
  }
  if (agg->mode == MODE_ANY && st == TIDE_FULFILLED) {
    tide_settle(L, ctx, a, TIDE_FULFILLED, v);
    return;
  }
  lua_getiuservalue(L, a, AGG_UV_RESULTS);
  if (agg->mode == MODE_ALL_SETTLED) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, st == TIDE_FULFILLED ? "fulfilled" : "rejected");
    lua_setfield(L, -2, "status");
    lua_pushvalue(L, v);
    lua_setfield(L, -2, st == TIDE_FULFILLED ? "value" : "reason");
  } else {
    lua_pushvalue(L, v);
  }
  lua_rawseti(L, -2, i);
  lua_pop(L, 1);
  if (--agg->remaining == 0) finish(L, ctx, a);
}

/* The reaction of kind TIDE_K_SLOT: records the outcome of input p. */
static void slot_react(lua_State *L, tide_ctx *ctx, int p, int s) {
  slot *sl = lua_touserdata(L, s);
  tide_promise *src = lua_touserdata(L, p);
  lua_getiuservalue(L, s, SLOT_UV_AGGREGATE);
  lua_getiuservalue(L, p, TIDE_UV_STATE);
  record(L, ctx, lua_gettop(L) - 1, sl->index, src->state, -1);
  lua_pop(L, 2);
}

static int combine(lua_State *L, agg_mode mode) {
  tide_ctx *ctx = tide_ctx_up(L);
  aggregate *agg;
  lua_Integer n;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  n = list_length(L, 1);
  agg = (aggregate *)tide_promise_new(L, ctx, sizeof *agg, TIDE_K_PROMISE, 2, NULL);
  agg->mode = (uint8_t)mode;
  agg->n = agg->remaining = n;
  lua_createtable(L, n > 0 && n < (1 << 24) ? (int)n : 0, 1);
  lua_setiuservalue(L, 2, AGG_UV_RESULTS);
  for (lua_Integer i = 1; i <= n; i++) {
    if (!push_input(L, ctx, 1, i, mode == MODE_ANY)) {
      record(L, ctx, 2, i, TIDE_FULFILLED, 3);
    } else {
      slot *sl = lua_newuserdatauv(L, sizeof *sl, 1);
      sl->header.kind = TIDE_K_SLOT;
      sl->header.state = TIDE_PENDING;
      sl->header.flags = 0;
      sl->index = i;
      lua_pushvalue(L, 2);
      lua_setiuservalue(L, 4, SLOT_UV_AGGREGATE);
      tide_subscribe(L, ctx, 3, 4);
    }
    lua_settop(L, 2);
  }
  if (n == 0) finish(L, ctx, 2);
  return 1;
}

/* tide.all(list) -> promise of the list of values; rejects with the first
 * rejection. */
static int l_all(lua_State *L) { return combine(L, MODE_ALL); }
/* tide.all_settled(list) -> promise of {status=, value= | reason=} entries */
static int l_all_settled(lua_State *L) { return combine(L, MODE_ALL_SETTLED); }
/* tide.any(list) -> first fulfilment; if all reject, an `aggregate` error
 * whose `errors` lists the reasons in input order. */
static int l_any(lua_State *L) { return combine(L, MODE_ANY); }

/* tide.race(list) -> settles like the first input to settle. An empty list
 * gives a promise that stays pending, as in JS. */
static int l_race(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *r;
  lua_Integer n;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  n = list_length(L, 1);
  r = tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE, 1, NULL);
  (void)r;
  for (lua_Integer i = 1; i <= n; i++) {
    push_input(L, ctx, 1, i, 1);
    tide_subscribe(L, ctx, 3, 2);
    lua_settop(L, 2);
  }
  return 1;
}

void tide_combinators_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"all", l_all},
                                   {"all_settled", l_all_settled},
                                   {"race", l_race},
                                   {"any", l_any},
                                   {NULL, NULL}};
  tide_reaction_register(ctx, TIDE_K_SLOT, slot_react);
  lua_pushinteger(L, TIDE_MAX_COUNT);
  lua_setfield(L, -2, "MAX_COUNT"); /* core.MAX_COUNT, for tide.check */
  tide_setfuncs(L, ctx, funcs);
}
