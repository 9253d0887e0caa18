/* task.h -- the task struct, private to task.c, task_info.c and op.c
 * (cancelling an operation that is a task looks inside it). */
#ifndef TIDE_TASK_H
#define TIDE_TASK_H

#include "tide.h"

typedef enum {
  TIDE_TASK_RUNNING, /* on the C stack: running, or resumed another one */
  TIDE_TASK_WAITING, /* suspended in await */
  TIDE_TASK_DONE
} tide_task_run;

struct tide_task {
  tide_op_promise base;   /* a task is a promise, and an op of its spawner */
  tide_op *children;      /* ops this task started that are still pending */
  void *awaiting;         /* the promise it waits for (kept alive by the
                             await frame on its coroutine's stack) */
  uint8_t run;            /* tide_task_run */
  uint8_t cancel_pending; /* cancelled while running: raise at next await */
  uint8_t delivering;     /* a cancellation (in UV_TARGET) is queued for it */
  uint8_t cancelled;      /* a cancellation was delivered to it */
  uint8_t hijacked;       /* its coroutine was resumed by someone else */
  uint64_t seq;           /* spawned as the seq-th task: tide.tasks() sorts
                             by it (anchor slots are reused: not by age) */
};

/* The task whose coroutine is co (set in the thread's extra space). */
static inline tide_task *tide_task_of(lua_State *co) {
  return *(tide_task **)lua_getextraspace(co);
}

/* Pushes the promise that the waiting task at t awaits: the first argument
 * of the await frame its coroutine is suspended in (nil if coroutine.close
 * emptied that stack). */
static inline void tide_task_push_awaited(lua_State *L, int t) {
  lua_State *co;
  lua_getiuservalue(L, t, TIDE_TASK_UV_CO);
  co = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (lua_status(co) != LUA_YIELD || lua_gettop(co) < 1) {
    lua_pushnil(L);
    return;
  }
  lua_pushvalue(co, 1);
  lua_xmove(co, L, 1);
}

/* task_info.c: task:traceback(), tide.tasks(), tide.handles(). */
int tide_task_traceback(lua_State *L);
int tide_tasks(lua_State *L);
int tide_handles(lua_State *L);

#endif
