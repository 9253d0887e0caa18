/* oom.c -- runs a Lua script in a state whose allocator fails on purpose.
 *
 *   oom SCRIPT N [ARGS...]
 *
 * The script gets two globals: arm() starts counting allocations, and the
 * N-th one after it fails (returns NULL) once; disarm() stops counting. The
 * script's own arguments are in `arg`. Exit status: 0 when the script ran
 * (its errors are printed and ignored: out of memory is an error it may
 * see), 3 when memory was still allocated after lua_close (a leak: C code
 * that took memory from the state's allocator and lost it), 2 on bad usage.
 * The spec that uses it (spec/regress/15-fs_spec.lua) builds it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

typedef struct {
  long armed;  /* allocations left before failing; -1: disarmed */
  size_t live; /* bytes allocated and not freed */
  int failed;  /* whether the failure happened */
} oom_state;

static void *oom_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  oom_state *s = ud;
  void *p;
  if (ptr == NULL) osize = 0; /* osize then names a type, not a size */
  if (nsize == 0) {
    free(ptr);
    s->live -= osize;
    return NULL;
  }
  if (nsize > osize && s->armed >= 0) {
    if (s->armed == 0) {
      s->failed = 1;
      return NULL;
    }
    s->armed--;
  }
  p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  s->live = s->live - osize + nsize;
  return p;
}

static int l_arm(lua_State *L) {
  oom_state *s = lua_touserdata(L, lua_upvalueindex(1));
  s->armed = (long)lua_tointeger(L, lua_upvalueindex(2));
  s->failed = 0;
  return 0;
}

/* disarm() -> whether the failure happened since arm() */
static int l_disarm(lua_State *L) {
  oom_state *s = lua_touserdata(L, lua_upvalueindex(1));
  s->armed = -1;
  lua_pushboolean(L, s->failed);
  return 1;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object)", 1);
  return 1;
}

int main(int argc, char **argv) {
  oom_state s = {-1, 0, 0};
  lua_State *L;
  int status;
  if (argc < 3) {
    fprintf(stderr, "usage: oom SCRIPT N [ARGS...]\n");
    return 2;
  }
  L = lua_newstate(oom_alloc, &s);
  if (L == NULL) return 2;
  luaL_openlibs(L);
  lua_pushlightuserdata(L, &s);
  lua_pushinteger(L, strtol(argv[2], NULL, 10));
  lua_pushcclosure(L, l_arm, 2);
  lua_setglobal(L, "arm");
  lua_pushlightuserdata(L, &s);
  lua_pushcclosure(L, l_disarm, 1);
  lua_setglobal(L, "disarm");
  lua_createtable(L, argc, 0);
  for (int i = 3; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 2);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, msgh);
  status = luaL_loadfile(L, argv[1]);
  if (status == LUA_OK) status = lua_pcall(L, 0, 0, -2);
  if (status != LUA_OK) printf("script error: %s\n", lua_tostring(L, -1));
  lua_close(L);
  if (s.live != 0) {
    printf("leak: %zu bytes still allocated after lua_close\n", s.live);
    return 3;
  }
  printf("ok\n");
  return 0;
}
