/* tide.h -- internal API shared by the C files of tide.core.
 *
 * Ownership in one paragraph: every Lua object that C code holds on to is
 * anchored in a Lua table (a ring, the anchors table or a user value), never
 * by a bare pointer alone; raw pointers to userdata are kept only while such
 * an anchor exists. libuv handles live in memory owned by the context and are
 * freed after their close callbacks. Only the context has a finalizer.
 *
 * Events: libuv callbacks never call Lua. They record what happened
 * (tide_post) and end the loop iteration; the driver -- tide.run or a
 * top-level await, itself a Lua C function -- then handles the recorded
 * events in the order of libuv's phases, on ctx->L (the thread driving the
 * loop, so using its stack is always legal), draining microtasks after each
 * one. No Lua error can unwind through libuv's frames, and no callback pays
 * for a protected call. */
#ifndef TIDE_H
#define TIDE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "heap.h"

#define TIDE_EXPORT __attribute__((visibility("default")))

/* Metatable names: luaL_newmetatable sets __name, so messages name the type. */
#define TIDE_PROMISE_MT "tide.promise"
#define TIDE_TASK_MT "tide.task"
#define TIDE_TIMER_MT "tide.timer"
#define TIDE_ERROR_MT "tide.error"
#define TIDE_CTX_MT "tide.context"
#define TIDE_SIGNAL_MT "tide.signal" /* methods come from lua/tide/signal.lua */

typedef struct tide_ctx tide_ctx;
typedef struct tide_task tide_task;
typedef struct tide_op tide_op;

/* ---------------------------------------------------------------------------
 * Promises */

typedef enum { TIDE_PENDING = 0, TIDE_FULFILLED, TIDE_REJECTED } tide_state;

/* What a userdata that carries a tide_promise header is. A reaction is one
 * of these, or the coroutine of a task waiting in await. */
typedef enum {
  TIDE_K_PROMISE, /* plain or derived (next/catch) promise */
  TIDE_K_TASK,    /* tide_task: a promise settled by a coroutine */
  TIDE_K_OP,      /* an operation's promise: a tide_op follows the header */
  TIDE_K_SLOT,    /* one element of a combinator (combinators.c) */
  TIDE_K_TIMER    /* not a promise: a set_timeout handle (timer.c) */
} tide_kind;

enum {
  TIDE_F_HANDLED = 1 << 0,  /* a reaction was attached, or it was awaited */
  TIDE_F_LOCKED = 1 << 1,   /* resolved: later resolve/reject calls are no-ops */
  TIDE_F_HANDLERS = 1 << 2, /* holds next() handlers in UV_ON_OK / UV_ON_ERR */
  TIDE_F_TRACKED = 1 << 3,  /* on the list of rejections checked after a drain */
  TIDE_F_QUIET = 1 << 4     /* rejected by tide's own cancellation: never reported */
};

typedef struct tide_promise {
  uint8_t kind;  /* tide_kind */
  uint8_t state; /* tide_state */
  uint8_t flags; /* TIDE_F_* */
  uint8_t spare;
} tide_promise;

/* User values of a promise userdata. UV_STATE holds the reactions while the
 * promise is pending (nil, one reaction, or a list) and its value once it is
 * settled: the two are never needed at once. A derived promise keeps its
 * next() handlers in UV_ON_OK / UV_ON_ERR until it runs them. A task keeps
 * in UV_TARGET the promise it adopts once its body returned one (or a
 * cancellation error waiting for its next await), and its coroutine (later
 * its traceback) in UV_AUX. */
enum { TIDE_UV_STATE = 1, TIDE_UV_ON_OK = 2, TIDE_UV_ON_ERR = 3 };
enum { TIDE_UV_TARGET = 2, TIDE_UV_AUX = 3 };

tide_promise *tide_topromise(lua_State *L, tide_ctx *ctx, int idx);
tide_promise *tide_checkpromise(lua_State *L, tide_ctx *ctx, int idx);
/* Pushes a new pending promise userdata of `size` bytes (>= header). */
tide_promise *tide_promise_new(lua_State *L, tide_ctx *ctx, size_t size, tide_kind kind,
                               int nuv, const char *mt);
/* Settles a pending promise (no-op when already settled) and queues its
 * reactions. */
void tide_settle(lua_State *L, tide_ctx *ctx, int p, tide_state st, int v);
/* The same, from a loop callback that drains the queue right after: when the
 * queue is empty and the only reaction is a waiting task, that task is
 * resumed at once (what the drain would do next) without the queue. */
void tide_settle_direct(lua_State *L, tide_ctx *ctx, int p, tide_state st, int v);
/* Promises/A+ resolution procedure for p with the value at v: adopts tide
 * promises and thenables. Marks p locked. */
void tide_resolve(lua_State *L, tide_ctx *ctx, int p, int v);
/* Adds the reaction at r to promise p (marks p handled). */
void tide_subscribe(lua_State *L, tide_ctx *ctx, int p, int r);
/* Removes the reaction at r from pending promise p (cancelled await). */
void tide_unsubscribe(lua_State *L, int p, int r);
/* If the value at idx is a tide promise, leaves it alone and returns it; if
 * it is a thenable, replaces it with a tide promise that adopts it. Returns
 * NULL (stack unchanged) for any other value. */
tide_promise *tide_promise_from(lua_State *L, tide_ctx *ctx, int idx);
/* Pushes a promise already rejected with the value at e, marked handled. */
void tide_push_rejected(lua_State *L, tide_ctx *ctx, int e, int quiet);
/* Runs reaction r for the settled promise p (called by the microtask drain). */
void tide_react(lua_State *L, tide_ctx *ctx, int p, int r);
int tide_promise_tostring(lua_State *L);
void tide_promise_open(lua_State *L, tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Operations and their cancellation */

/* An operation is anything pending that can be stopped: a timer, an HTTP
 * transfer, a child task. It belongs to the task that started it; cancelling
 * that task cancels its operations. */
typedef struct tide_op_class {
  const char *name;
  /* Stops the operation and settles its promise at p with the error at err.
   * The promise is pending when this is called. */
  void (*cancel)(lua_State *L, tide_ctx *ctx, int p, int err);
} tide_op_class;

struct tide_op {
  const tide_op_class *cls;
  tide_task *owner; /* task that started it, while both are pending */
  tide_op *prev, *next;
  int ref; /* anchor of the op's promise while it is pending */
};

/* Layout of every TIDE_K_OP userdata (and of tasks): header, then the op. */
typedef struct tide_op_promise {
  tide_promise promise;
  tide_op op;
} tide_op_promise;

static inline tide_op *tide_promise_op(tide_promise *p) {
  return (p->kind == TIDE_K_OP || p->kind == TIDE_K_TASK) ? &((tide_op_promise *)p)->op
                                                          : NULL;
}

/* Anchors the op whose promise is at p while it is pending, and ties it to
 * the running task (if any) as one of that task's operations. */
void tide_op_start(lua_State *L, tide_ctx *ctx, int p, tide_op *op,
                   const tide_op_class *cls);
/* The op finished (or was stopped): unties and unanchors it. Idempotent. */
void tide_op_done(lua_State *L, tide_ctx *ctx, tide_op *op);
/* Unties op from its owner only (its anchor is released later). */
void tide_op_untie(tide_op *op);
/* Cancels the task or operation whose promise is at p with the error at err.
 * Returns 1 if something was pending and is now cancelled. */
int tide_cancel(lua_State *L, tide_ctx *ctx, int p, int err);
/* Checks the options table at absolute index opts (also its argument number)
 * of function fname ("tide.sleep"): unknown options through tide.check, and
 * opts.signal. Pushes the signal and returns its index, or returns 0 with
 * nothing pushed; raises for anything but a tide.signal. Call it before
 * starting the op. */
int tide_opt_signal(lua_State *L, int opts, const char *fname);
/* Ties the op promise at p to the signal at sig: aborting the signal cancels
 * the op with the signal's reason (at once if it is already aborted). */
void tide_link_signal(lua_State *L, tide_ctx *ctx, int sig, int p);

/* ---------------------------------------------------------------------------
 * Tasks */

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

/* The task running on thread L, or NULL. */
tide_task *tide_current(tide_ctx *ctx, lua_State *L);
/* The task whose coroutine is co (set in the thread's extra space). */
static inline tide_task *tide_task_of(lua_State *co) {
  return *(tide_task **)lua_getextraspace(co);
}
/* Resumes the task whose coroutine co waits in await: await then returns
 * (or raises) the outcome of the promise it waits for, or raises the
 * cancellation queued for it. */
void tide_task_wake(lua_State *L, tide_ctx *ctx, lua_State *co);
/* Spawns fn (at index fn, followed by nargs arguments) as a task and runs it
 * up to its first suspension; pushes the task. */
void tide_spawn(lua_State *L, tide_ctx *ctx, int fn, int nargs);
void tide_task_open(lua_State *L, tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Errors (tide.error objects) */

/* Pushes a new tide.error {kind=, message=}. */
void tide_error_push(lua_State *L, const char *kind, const char *fmt, ...);
/* Raises a usage error (kind "usage"): misuse that no argument check covers. */
int tide_usage_error(lua_State *L, const char *fmt, ...);
int tide_is_error(lua_State *L, int idx, const char *kind);
void tide_error_open(lua_State *L, tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Rings: FIFO queues of Lua values kept in a Lua table (which anchors them) */

typedef struct tide_ring {
  int ref; /* registry ref of the table */
  uint32_t head, count, cap;
} tide_ring;

void tide_ring_init(lua_State *L, tide_ring *r, uint32_t cap);
void tide_ring_free(lua_State *L, tide_ring *r);
/* Pops n values and appends them in order. */
void tide_ring_push(lua_State *L, tide_ring *r, int n);
/* Appends the values at a and b (not popped). */
void tide_ring_push2(lua_State *L, tide_ring *r, int a, int b);
/* Pushes the first n values and removes them from the ring. */
void tide_ring_shift(lua_State *L, tide_ring *r, int n);
/* The same, with the ring's table already at index t. */
void tide_ring_shift_at(lua_State *L, tide_ring *r, int t, int n);
void tide_ring_clear(lua_State *L, tide_ring *r);

/* ---------------------------------------------------------------------------
 * Timers */

typedef enum { TIDE_TIMER_IDLE, TIDE_TIMER_HEAP, TIDE_TIMER_IMMEDIATE } tide_timer_where;

typedef struct tide_timer_node {
  tide_heap_node hn; /* key: due time in loop milliseconds */
  uint8_t where;     /* tide_timer_where */
  uint8_t is_sleep;  /* a sleep op (else a callback timer handle) */
  uint8_t refd;      /* keeps the loop alive */
  uint8_t spare;
  int anchor; /* anchors ref of the owning userdata while scheduled */
} tide_timer_node;

void tide_timer_open(lua_State *L, tide_ctx *ctx);
void tide_timer_close(tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Combinators */

void tide_slot_react(lua_State *L, tide_ctx *ctx, int p, int slot);
void tide_combinators_open(lua_State *L, tide_ctx *ctx);

/* Events, in the order the driver handles them after a loop iteration
 * (libuv's phase order: timers, I/O, check). */
typedef enum {
  TIDE_EV_TIMERS,     /* the uv timer fired: run due timers */
  TIDE_EV_IO,         /* I/O completions (HTTP, files) */
  TIDE_EV_IMMEDIATES, /* check phase: run zero-delay timers */
  TIDE_EV_SIGINT,     /* Ctrl-C while the top level waits */
  TIDE_EV_COUNT
} tide_event;
typedef void (*tide_event_fn)(lua_State *L, tide_ctx *ctx);
/* ---------------------------------------------------------------------------
 * I/O completions: libuv and libcurl callbacks queue finished requests here
 * (C only) and post TIDE_EV_IO; the driver then calls each one's complete()
 * in the order they finished. */

typedef struct tide_io tide_io;
struct tide_io {
  tide_io *next;
  /* Settles what waits for it and frees it (on the driver's thread). */
  void (*complete)(lua_State *L, tide_ctx *ctx, tide_io *io);
  /* Frees it without Lua: the state is closing. */
  void (*discard)(tide_ctx *ctx, tide_io *io);
};

/* From a libuv/libcurl callback: queues io for completion. */
void tide_io_done(tide_ctx *ctx, tide_io *io);
void tide_fs_open(lua_State *L, tide_ctx *ctx);
/* The state is closing: unblocks what it can of the fs requests still in
 * libuv's thread pool, so that waiting for them ends. */
void tide_fs_close(tide_ctx *ctx);
void tide_http_open(lua_State *L, tide_ctx *ctx);
void tide_http_close(tide_ctx *ctx);

/* One entry of the microtask queue. A wakeup names the coroutine of a task
 * waiting in await and the promise it waits for: both are anchored already
 * (the task by its anchor, the promise by the await frame), so queueing it
 * touches no Lua table. Any other job (co == NULL) is the next pair of
 * values in the Lua ring ctx->jobs. */
typedef struct tide_job {
  lua_State *co;
  const tide_promise *promise;
} tide_job;

/* ---------------------------------------------------------------------------
 * The context: one per lua_State that requires tide */

struct tide_ctx {
  uv_loop_t loop;
  lua_Alloc alloc; /* the state's allocator, for C-side memory */
  void *alloc_ud;
  lua_State *L;       /* thread driving the loop; NULL when none does */
  lua_State *main;    /* main thread, for finalization */
  int busy;           /* loop drivers + task resumptions on the C stack */
  tide_task *current; /* task being run, and its thread */
  lua_State *current_L;

  tide_job *queue; /* microtasks, in order (see loop.c) */
  uint32_t q_head, q_count, q_cap;
  tide_ring jobs; /* the Lua values of queued non-wakeup jobs */
  int draining;
  tide_ring rejections; /* rejected promises to check once the queue drains */

  tide_heap timers;         /* pending timers (timer.c) */
  uv_timer_t timer;         /* armed for the earliest of them */
  uint32_t timers_refd;     /* how many of them keep the loop alive */
  tide_ring immediates;     /* zero-delay sleeps and timers, run at check */
  uint32_t immediates_live; /* how many of those are still to run */
  uint32_t immediates_refd; /* how many of those keep the loop alive */
  uv_check_t check;
  uv_idle_t idle; /* keeps poll from blocking while immediates wait */

  unsigned events;            /* tide_event bits posted by libuv callbacks */
  tide_io *io_head, *io_tail; /* finished I/O waiting for the driver */
  tide_event_fn handlers[TIDE_EV_COUNT];
  uv_signal_t sigint; /* Ctrl-C while the top level waits */
  int interrupted;
  struct sigaction saved_sigint;

  int anchors;      /* registry ref: table holding C-held objects */
  int *anchor_free; /* free slots of that table (a stack) */
  int anchor_nfree, anchor_capfree, anchor_top;
  int tracebacks;                   /* registry ref: failing coroutine -> traceback */
  int on_unhandled;                 /* registry ref of the handler or LUA_NOREF */
  int signal_linker;                /* registry ref of the Lua signal linker */
  const void *promise_mt, *task_mt; /* metatable identities */
  int promise_mt_ref, task_mt_ref;  /* the same tables, by registry ref */
  uint32_t n_live_tasks;
  int gc_stress;       /* full collection at every await and callback */
  void *http;          /* http.c's state (libcurl share handle, ...) */
  void *fs_reqs;       /* fs.c's requests in libuv's thread pool (a list) */
  uint32_t fs_pending; /* how many: cancelled ones too, until libuv is done */
  int closed;
};

/* C functions get the context through upvalue 1: the box that the context's
 * finalizer empties, so that a call from a finalizer that runs after it (an
 * object given a __gc before tide was required) raises instead of touching
 * freed memory. */
#define tide_ctx_up(L) tide_ctx_check(L, lua_upvalueindex(1))
tide_ctx *tide_ctx_check(lua_State *L, int box);
/* Pushes the context's box, for upvalue 1 of a new C closure. */
void tide_push_ctx(lua_State *L, tide_ctx *ctx);

/* From a libuv callback: records ev and ends the current loop iteration
 * (the loop then does not block in poll). */
static inline void tide_post(tide_ctx *ctx, tide_event ev) {
  ctx->events |= 1u << ev;
  uv_stop(&ctx->loop);
}

tide_ctx *tide_ctx_new(lua_State *L);
tide_ctx *tide_ctx_get(lua_State *L);
/* Anchors the value on top (popped) and returns its ref. */
int tide_anchor(lua_State *L, tide_ctx *ctx);
void tide_unanchor(lua_State *L, tide_ctx *ctx, int ref);
void tide_push_anchored(lua_State *L, tide_ctx *ctx, int ref);

/* Microtasks: queues the job (value at a, value at b); see loop.c. */
void tide_job_push(lua_State *L, tide_ctx *ctx, int a, int b);
/* Queues the wakeup of the task waiting in await on coroutine co for
 * promise p (a reaction that is a coroutine). */
void tide_wake_push(lua_State *L, tide_ctx *ctx, lua_State *co, const tide_promise *p);
/* Runs queued microtasks until none are left, then reports unhandled
 * rejections. Called after every loop callback. */
void tide_drain(tide_ctx *ctx);
/* Records a rejected promise at p that nobody handles yet. */
void tide_track_rejection(lua_State *L, tide_ctx *ctx, int p, tide_promise *pr);
/* Reports an error nobody handled (promise at p, or 0 for a callback). */
void tide_report_unhandled(lua_State *L, tide_ctx *ctx, int err, int p);
/* Sets the handler the driver calls for ev. */
void tide_on_event(tide_ctx *ctx, tide_event ev, tide_event_fn fn);
/* Runs a thenable job; the job table {promise, x, then} is on top (popped). */
void tide_thenable_job(lua_State *L, tide_ctx *ctx);
/* Raises a usage error unless the top level may wait here (no loop running,
 * no task on the C stack). */
void tide_check_toplevel(lua_State *L, tide_ctx *ctx, const char *fname);
/* Calls the function below its n arguments in protected mode; an error is
 * reported as unhandled. Leaves the stack as it was before the function. */
void tide_call_cb(lua_State *L, tide_ctx *ctx, int nargs);
/* Top-level wait: runs the loop on L until the promise at p settles. */
void tide_wait_toplevel(lua_State *L, tide_ctx *ctx, int p, const char *what);
void tide_loop_open(lua_State *L, tide_ctx *ctx);
void tide_gc_stress(lua_State *L, tide_ctx *ctx);

/* Registers funcs with the context as upvalue 1 into the table on top. */
void tide_setfuncs(lua_State *L, tide_ctx *ctx, const luaL_Reg *funcs);

#endif
