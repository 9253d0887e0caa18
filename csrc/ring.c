/* ring.c -- FIFO queues of Lua values kept in a Lua table.
 *
 * The table anchors what is queued, so the collector sees it; head and count
 * live in C. Slots wrap around a power-of-two capacity, so the table keeps
 * using its array part however many values pass through, and it grows in
 * place: a caller may hold the table on its stack across pushes.
 *
 * May call: nothing of tide's (Lua only). */
#include "tide.h"

void tide_ring_init(lua_State *L, tide_ring *r, uint32_t cap) {
  lua_createtable(L, (int)cap, 0);
  r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  r->head = r->count = 0;
  r->cap = cap;
}

void tide_ring_free(lua_State *L, tide_ring *r) {
  luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
  r->ref = LUA_NOREF;
  r->head = r->count = 0;
}

static lua_Integer slot(const tide_ring *r, uint32_t i) {
  return (lua_Integer)((r->head + i) & (r->cap - 1)) + 1;
}

/* Doubles the capacity of the ring whose table is at t. The values that had
 * wrapped around to the start move to just past the old end, so that they
 * follow the others again. */
static void grow(lua_State *L, tide_ring *r, int t) {
  uint32_t old = r->cap;
  uint32_t wrapped = r->head + r->count > old ? r->head + r->count - old : 0;
  for (uint32_t i = 0; i < wrapped; i++) {
    lua_rawgeti(L, t, (lua_Integer)i + 1);
    lua_rawseti(L, t, (lua_Integer)(old + i) + 1);
    lua_pushnil(L);
    lua_rawseti(L, t, (lua_Integer)i + 1);
  }
  r->cap = old * 2;
}

void tide_ring_push(lua_State *L, tide_ring *r, int n) {
  int t;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
  t = lua_gettop(L);
  while (r->count + (uint32_t)n > r->cap)
    grow(L, r, t);
  for (int i = 0; i < n; i++) {
    lua_pushvalue(L, t - n + i);
    lua_rawseti(L, t, slot(r, r->count++));
  }
  lua_pop(L, n + 1);
}

void tide_ring_push2(lua_State *L, tide_ring *r, int a, int b) {
  int t;
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
  t = lua_gettop(L);
  while (r->count + 2 > r->cap)
    grow(L, r, t);
  lua_pushvalue(L, a);
  lua_rawseti(L, t, slot(r, r->count++));
  lua_pushvalue(L, b);
  lua_rawseti(L, t, slot(r, r->count++));
  lua_pop(L, 1);
}

void tide_ring_shift_at(lua_State *L, tide_ring *r, int t, int n) {
  for (int i = 0; i < n; i++) {
    lua_Integer s = slot(r, 0);
    lua_rawgeti(L, t, s);
    lua_pushnil(L);
    lua_rawseti(L, t, s);
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
  }
}

void tide_ring_shift(lua_State *L, tide_ring *r, int n) {
  int t;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
  t = lua_gettop(L);
  tide_ring_shift_at(L, r, t, n);
  lua_remove(L, t);
}

void tide_ring_clear(lua_State *L, tide_ring *r) {
  while (r->count) {
    tide_ring_shift(L, r, 1);
    lua_pop(L, 1);
  }
  r->head = 0;
}
