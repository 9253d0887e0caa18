/* task.h -- the task struct, private to task.c and op.c (cancelling an
 * operation that is a task looks inside it). */
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
};

/* The task whose coroutine is co (set in the thread's extra space). */
static inline tide_task *tide_task_of(lua_State *co) {
  return *(tide_task **)lua_getextraspace(co);
}

#endif
