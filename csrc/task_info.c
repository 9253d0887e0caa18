/* task_info.c -- introspection of tasks and operations: tide.tasks(),
 * tide.handles() (every live task, pending operation and module handle),
 * task:traceback(), and where a task's coroutine is now.
 *
 * May call: ctx.c, report.c (origins) and what tide.h and task.h inline. It
 * only reads tasks and operations; task.c registers its functions when it
 * opens. */
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "tide.h"

/* ---------------------------------------------------------------------------
 * Introspection */

/* Pushes "file:line" of the innermost Lua function active on co, or nil. */
static void push_where(lua_State *L, tide_ctx *ctx, lua_State *co) {
  lua_Debug ar;
  int first = 0;
  for (int level = 0; lua_getstack(co, level, &ar); level++) {
    if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
      /* The user's line, past tide's own Lua files (else the first). */
      if (ctx->lib_len && strncmp(ar.source, ctx->lib, ctx->lib_len) == 0) {
        if (!first) {
          lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
          first = 1;
        }
        continue;
      }
      if (first) lua_pop(L, 1);
      lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
  if (!first) lua_pushnil(L);
}

/* task:traceback() -> the traceback of a failed task, or where a live one is
 * now; nil for a task that succeeded. */
int tide_task_traceback(lua_State *L) {
  tide_task *task = luaL_checkudata(L, 1, TIDE_TASK_MT);
  lua_getiuservalue(L, 1, TIDE_TASK_UV_CO);
  if (task->run != TIDE_TASK_DONE && lua_type(L, -1) == LUA_TTHREAD)
    luaL_traceback(L, lua_tothread(L, -1), NULL, 0);
  else if (lua_type(L, -1) != LUA_TSTRING)
    lua_pushnil(L);
  return 1;
}

/* An anchor slot, and the key it is sorted by. */
typedef struct {
  uint64_t key;
  lua_Integer ref;
} info_slot;

static int info_cmp(const void *a, const void *b) {
  const info_slot *x = a, *y = b;
  return (x->key > y->key) - (x->key < y->key);
}

/* Pushes a userdata array of the n entries of the table at t (anchor slot
 * -> task or operation), sorted (here, not with whatever the global
 * table.sort is), and returns it: tasks by their sequence number, oldest
 * first (slots are reused, so a slot says nothing of age), operations by
 * slot. */
static info_slot *sorted_slots(lua_State *L, int t, lua_Integer n) {
  info_slot *slots = lua_newuserdatauv(L, sizeof *slots * (size_t)(n ? n : 1), 0);
  lua_Integer i = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) { /* the table is private: it holds exactly n keys */
    tide_promise *p = lua_touserdata(L, -1);
    if (i < n) {
      slots[i].ref = lua_tointeger(L, -2);
      slots[i].key =
          p->kind == TIDE_K_TASK ? ((tide_task *)p)->seq : (uint64_t)slots[i].ref;
      i++;
    }
    lua_pop(L, 1);
  }
  qsort(slots, (size_t)i, sizeof *slots, info_cmp);
  return slots;
}

/* tide.tasks() -> list of {task=, status=, awaiting=, where=} for every
 * unfinished task, oldest first. */
int tide_tasks(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_Integer n = 0;
  info_slot *slots;
  lua_settop(L, 0);
  lua_newtable(L);                                 /* 1: result */
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors); /* 2 */
  lua_createtable(L, 0, 0);                        /* 3: ref -> task */
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    tide_promise *p = tide_topromise(L, ctx, -1);
    if (p && p->kind == TIDE_K_TASK && ((tide_task *)p)->run != TIDE_TASK_DONE) {
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      lua_rawset(L, 3); /* refs[ref] = task: held here whatever happens next */
      n++;
    }
    lua_pop(L, 1);
  }
  slots = sorted_slots(L, 3, n);
  lua_replace(L, 2); /* 2: the sorted slots; 3: ref -> task */
  for (lua_Integer i = 1, out = 0; i <= n; i++) {
    tide_task *task;
    lua_rawgeti(L, 3, slots[i - 1].ref); /* 4: task */
    task = lua_touserdata(L, 4);
    /* A finalizer run by an allocation above may have ended it. */
    if (task->run == TIDE_TASK_DONE) {
      lua_settop(L, 3);
      continue;
    }
    lua_createtable(L, 0, 4); /* 5 */
    lua_pushvalue(L, 4);
    lua_setfield(L, 5, "task");
    lua_pushstring(L, task->run == TIDE_TASK_WAITING ? "waiting" : "running");
    lua_setfield(L, 5, "status");
    if (task->run == TIDE_TASK_WAITING) {
      tide_task_push_awaited(L, 4);
      lua_setfield(L, 5, "awaiting");
    }
    lua_getiuservalue(L, 4, TIDE_TASK_UV_CO);
    if (lua_type(L, -1) == LUA_TTHREAD) {
      push_where(L, ctx, lua_tothread(L, -1));
      lua_setfield(L, 5, "where");
    }
    lua_pop(L, 1);
    lua_rawseti(L, 1, ++out);
    lua_settop(L, 3);
  }
  lua_settop(L, 1);
  return 1;
}

/* Pushes the entry of tide.tasks() for the live task at t: {task=,
 * status=, awaiting=, where=, spawned=}. */
static void push_task_entry(lua_State *L, tide_ctx *ctx, int t) {
  tide_task *task = lua_touserdata(L, t);
  t = lua_absindex(L, t);
  lua_createtable(L, 0, 6);
  lua_pushliteral(L, "task");
  lua_setfield(L, -2, "kind");
  lua_pushvalue(L, t);
  lua_setfield(L, -2, "task");
  lua_pushstring(L, task->run == TIDE_TASK_WAITING ? "waiting" : "running");
  lua_setfield(L, -2, "status");
  if (task->run == TIDE_TASK_WAITING) {
    tide_task_push_awaited(L, t);
    lua_setfield(L, -2, "awaiting");
  }
  lua_getiuservalue(L, t, TIDE_TASK_UV_CO);
  if (lua_type(L, -1) == LUA_TTHREAD) {
    push_where(L, ctx, lua_tothread(L, -1));
    lua_setfield(L, -3, "where");
  }
  lua_pop(L, 1);
  tide_origin_push(L, ctx, t);
  lua_setfield(L, -2, "spawned");
}

/* tide.handles() -> a list of every live task (as tide.tasks, plus
 * kind="task" and spawned=), every pending operation {kind=<its class:
 * "sleep", "fs", "http", "operation", ...>, promise=, started=, owner=, and
 * what its class adds}, then what the modules add (callback timers). Tasks
 * come oldest first; operations in the order of their anchor slots. */
int tide_handles(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_Integer n = 0;
  info_slot *slots;
  lua_settop(L, 0);
  lua_newtable(L);                                 /* 1: result */
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors); /* 2 */
  lua_createtable(L, 0, 0);                        /* 3: ref -> promise */
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    tide_promise *p = tide_topromise(L, ctx, -1);
    if (p && p->state == TIDE_PENDING &&
        ((p->kind == TIDE_K_TASK && ((tide_task *)p)->run != TIDE_TASK_DONE) ||
         p->kind == TIDE_K_OP)) {
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      lua_rawset(L, 3); /* refs[ref] = promise: held here whatever happens next */
      n++;
    }
    lua_pop(L, 1);
  }
  slots = sorted_slots(L, 3, n); /* 4 */
  for (int pass = 0; pass < 2; pass++) {
    for (lua_Integer i = 0; i < n; i++) {
      tide_promise *p;
      lua_rawgeti(L, 3, slots[i].ref); /* 5 */
      p = lua_touserdata(L, 5);
      /* Building an entry allocates, and a finalizer run by that may have
       * settled what comes later in the list: it is no longer pending. */
      if (p->state != TIDE_PENDING ||
          (p->kind == TIDE_K_TASK && ((tide_task *)p)->run == TIDE_TASK_DONE)) {
        lua_settop(L, 4);
        continue;
      }
      if (pass == 0 && p->kind == TIDE_K_TASK) {
        push_task_entry(L, ctx, 5);
        lua_rawseti(L, 1, (lua_Integer)lua_rawlen(L, 1) + 1);
      } else if (pass == 1 && p->kind == TIDE_K_OP) {
        tide_op *op = tide_promise_op(p);
        lua_createtable(L, 0, 5); /* 6 */
        lua_pushstring(L, op->cls ? op->cls->name : "operation");
        lua_setfield(L, 6, "kind");
        lua_pushvalue(L, 5);
        lua_setfield(L, 6, "promise");
        tide_origin_push(L, ctx, 5);
        lua_setfield(L, 6, "started");
        if (op->owner) {
          tide_push_anchored(L, ctx, op->owner->base.op.ref);
          lua_setfield(L, 6, "owner");
        }
        if (op->cls && op->cls->describe) op->cls->describe(L, ctx, 5, 6);
        lua_rawseti(L, 1, (lua_Integer)lua_rawlen(L, 1) + 1);
      }
      lua_settop(L, 4);
    }
  }
  for (int i = 0; i < ctx->n_modules; i++)
    if (ctx->modules[i]->handles) ctx->modules[i]->handles(L, ctx, 1);
  lua_settop(L, 1);
  return 1;
}
