/* tide.h -- the internal API that the C files of tide.core share, and
 * nothing private to one of them (a module's own structs live in it).
 *
 * Layers (DESIGN.md, "Layout and layers"; scripts/check-layers checks them
 * on the object files): ctx.c class.c report.c error.c ring.c heap.c
 * buf.c -> promise.c -> op.c -> task.c -> combinators.c timer.c fs.c
 * proc.c http*.c -> loop.c -> core.c (op.c is task.c's operations, split off to
 * keep files small). A file calls only files before it. The few calls that must go the
 * other way go through pointers on the context that the higher file sets when it opens:
 * the reaction of each kind (tide_reaction_register), the module hooks for
 * teardown and stats (tide_module_register), and ctx->wake, thenable_job
 * and wait_toplevel (see struct tide_ctx).
 *
 * Ownership in one paragraph: every Lua object that C code holds on to is
 * anchored in a Lua table (a ring, the anchors table or a user value), never
 * by a bare pointer alone; raw pointers to userdata are kept only while such
 * an anchor exists. libuv handles live in memory owned by the context (or
 * its modules) and are freed after their close callbacks. Promises, tasks
 * and timers own no C memory and have no finalizer (a pending one is
 * anchored); objects that do own some (the context, HTTP clients and
 * transfers) free it in a __gc that shares the idempotent cleanup of their
 * close.
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

#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#define TIDE_EXPORT __attribute__((visibility("default")))

/* Class names shared by several files (tide_class_new sets __name, so
 * messages name the type). */
#define TIDE_PROMISE_MT "tide.promise"
#define TIDE_TASK_MT "tide.task"
/* The promises of operations (TIDE_K_OP): a tide.promise with cancel. */
#define TIDE_OP_MT "tide.operation"
#define TIDE_ERROR_MT "tide.error"
#define TIDE_SIGNAL_MT                                                                   \
  "tide.signal" /* its methods: lua/tide/signal.lua, by interpose                        \
                 */

/* Limits shared with the Lua layer, which reads them from tide.core (one
 * place): core.MAX_COUNT and core.READ_MAX. */
/* The most items a list, count or length given to tide may have: far above
 * any real list, low enough that a stray n = 2^40 fails at once instead of
 * looping for hours over holes. */
#define TIDE_MAX_COUNT ((lua_Integer)1 << 28)
/* The most bytes one fs read asks for. */
#define TIDE_FS_READ_MAX (64 * 1024 * 1024)

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
  TIDE_K_TIMER,   /* not a promise: a set_timeout handle (timer.c) */
  TIDE_K_COUNT
} tide_kind;

enum {
  TIDE_F_HANDLED = 1 << 0,  /* a reaction was attached, or it was awaited */
  TIDE_F_LOCKED = 1 << 1,   /* resolved: later resolve/reject calls are no-ops */
  TIDE_F_HANDLERS = 1 << 2, /* holds next() handlers (TIDE_PROMISE_UV_ON_*) */
  TIDE_F_TRACKED = 1 << 3,  /* on the list of rejections checked after a drain */
  TIDE_F_QUIET = 1 << 4,    /* rejected by tide's own cancellation: never reported */
  TIDE_F_LOST = 1 << 5      /* an op reported as never awaited (tide.run) */
};

typedef struct tide_promise {
  uint8_t kind;  /* tide_kind */
  uint8_t state; /* tide_state */
  uint8_t flags; /* TIDE_F_* */
  uint8_t spare;
} tide_promise;

/* User values of a promise userdata. Slot 1, in every kind, holds the
 * reactions while the promise is pending (nil, one reaction, or a list) and
 * its value once it is settled: the two are never needed at once. The slots
 * after it belong to the kind, each kind with its own names: the same
 * number means different things in a derived promise and in a task (a
 * task never has TIDE_F_HANDLERS, so tide_settle never clears its slots). */
enum { TIDE_UV_STATE = 1 };
/* A derived promise keeps its next() handlers here until it runs them. */
enum { TIDE_PROMISE_UV_ON_OK = 2, TIDE_PROMISE_UV_ON_ERR = 3 };
/* A task keeps in TARGET the promise it adopts once its body returned one
 * (or a cancellation error waiting for its next await), and in CO its
 * coroutine (later, if it failed, its traceback). */
enum { TIDE_TASK_UV_TARGET = 2, TIDE_TASK_UV_CO = 3 };

/* The promise (or task) at idx, or NULL for any other value. */
static inline tide_promise *tide_topromise(lua_State *L, tide_ctx *ctx, int idx);
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
/* Pushes "<name> (<state>[: value])" for the promise at idx; `pending` is
 * the word for a pending one. (The __tostring of promises and tasks.) */
void tide_promise_push_tostring(lua_State *L, int idx, const char *name,
                                const char *pending);
void tide_promise_open(lua_State *L, tide_ctx *ctx);
/* Makes indexing an object of the class whose metatable is on top with a
 * name it does not have raise `<shown> has no field 'json' (did you forget
 * :await()?)`. Method lookups that hit cost nothing more: the raise is the
 * __index of the methods table's own metatable, reached only on a miss.
 * `then` (which thenable detection asks for), `cancel` (which code may ask
 * for to see whether a promise can be cancelled) and names that start with
 * "__" stay nil. */
void tide_class_strict(lua_State *L, tide_ctx *ctx, const char *shown);

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
  /* tide.handles: adds fields that say what the pending op at p is doing
   * (due_in, url, path, ...) to its entry at e. May be NULL. */
  void (*describe)(lua_State *L, tide_ctx *ctx, int p, int e);
  /* 1: record where each op starts (tide_origin_record, ~0.2 us) even with
   * debug origins off -- for ops that cost far more than that anyway (a
   * file request, a transfer). 0 for hot ones (sleep, tasks, Lua ops): they
   * record it with tide.debug{origins = true} only. */
  int origin;
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
void tide_link_signal(lua_State *L, int sig, int p);
/* Pushes a new `cancelled` error whose reason is the value at reason. */
void tide_push_cancelled(lua_State *L, int reason);
/* core.cancel, cancelled_error, operation; the tide.signal class */
void tide_op_open(lua_State *L, tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Tasks */

/* Whether the value at idx can be called. */
static inline int tide_is_callable(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* The task running on thread L, or NULL. */
tide_task *tide_current(tide_ctx *ctx, lua_State *L);
/* Spawns fn (at index fn, followed by nargs arguments) as a task and runs it
 * up to its first suspension; pushes the task. */
void tide_spawn(lua_State *L, tide_ctx *ctx, int fn, int nargs);
void tide_task_open(lua_State *L, tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Errors (tide.error objects) */

/* Pushes a new tide.error {kind=, message=}. */
void tide_error_push(lua_State *L, const char *kind, const char *fmt, ...);
/* Pushes an `fs` error for libuv error err from `call` ({code=, errno=,
 * syscall=, path=}; path may be NULL). */
void tide_error_push_fs(lua_State *L, int err, const char *call, const char *path);
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

void tide_timer_open(lua_State *L, tide_ctx *ctx);

/* ---------------------------------------------------------------------------
 * Combinators */

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
void tide_http_open(lua_State *L, tide_ctx *ctx);
/* json.cc (C++ inside, C linkage): core.json_decode/json_encode/json_array. */
void tide_json_open(lua_State *L, tide_ctx *ctx);
/* sigv4_lua.c: core.sigv4_sign and core.sigv4_sha256 (AWS SigV4, sigv4.c). */
void tide_sigv4_open(lua_State *L, tide_ctx *ctx);
/* proc.c: core.proc_run (a command as a child process on the loop). */
void tide_proc_open(lua_State *L, tide_ctx *ctx);
/* sigv4_file.c (from tide_sigv4_open): core.sigv4_sha256_file, the SHA-256
 * of a byte range of a file in libuv's thread pool. */
void tide_sigv4_file_open(lua_State *L, tide_ctx *ctx);

typedef struct tide_job tide_job; /* an entry of the microtask queue (ctx.c) */

/* ---------------------------------------------------------------------------
 * Hooks: how the files above ctx.c plug into it */

/* A reaction kind's behaviour: reaction r (a userdata whose tide_promise
 * header has that kind) reacts to the settled promise p. The drain runs it
 * for each queued (promise, reaction) job. Each owner registers its kinds
 * when it opens: promise.c TIDE_K_PROMISE and TIDE_K_OP, task.c TIDE_K_TASK,
 * combinators.c TIDE_K_SLOT. */
typedef void (*tide_react_fn)(lua_State *L, tide_ctx *ctx, int p, int r);
void tide_reaction_register(tide_ctx *ctx, tide_kind kind, tide_react_fn react);

/* A module (timer, fs, http, the driver...) as the context sees it. */
// clang-format off
typedef struct tide_module {
  const char *name;
  void (*close)(tide_ctx *ctx);                       /* teardown, after the loop stopped; no Lua; may be NULL */
  void (*stats)(lua_State *L, tide_ctx *ctx, int t);  /* adds fields to the core.stats() table at t; may be NULL */
  /* tide.handles: appends to the list at `list` an entry {kind=, started=, ...} for each
   * pending thing of the module that is not an operation (every pending operation is
   * listed already, through the anchors: see tide_op_class.describe); may be NULL */
  void (*handles)(lua_State *L, tide_ctx *ctx, int list);
} tide_module;
// clang-format on
#define TIDE_MODULES_MAX 16
/* m has static storage; called from each *_open. At teardown the close
 * hooks run in reverse order of registration. */
void tide_module_register(tide_ctx *ctx, const tide_module *m);
/* Teardown, earlier: once every handle is closing, before the loop runs
 * them down. For what would hold that last run (fs.c's requests blocked in
 * libuv's thread pool). No Lua. */
typedef void (*tide_closing_fn)(tide_ctx *ctx);
void tide_on_closing(tide_ctx *ctx, tide_closing_fn fn);

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

  tide_job *queue; /* microtasks, in order (see ctx.c) */
  uint32_t q_head, q_count, q_cap;
  tide_ring jobs; /* the Lua values of queued non-wakeup jobs */
  int draining;
  tide_ring rejections; /* rejected promises to check once the queue drains */

  unsigned events;            /* tide_event bits posted by libuv callbacks */
  tide_io *io_head, *io_tail; /* finished I/O waiting for the driver */
  tide_event_fn handlers[TIDE_EV_COUNT];

  int anchors;      /* registry ref: table holding C-held objects */
  int *anchor_free; /* free slots of that table (a stack) */
  int anchor_nfree, anchor_capfree, anchor_top;
  int tracebacks;   /* registry ref: failing coroutine -> traceback */
  int on_unhandled; /* registry ref of the handler or LUA_NOREF */
  /* Registry ref of the unhandled error that ends a script (the default
   * handler's policy in a script, DESIGN.md "Diagnostics"), or LUA_NOREF:
   * the driver cancels what the top level waits for, then raises an
   * `unhandled` error caused by it. */
  int failure;
  int failure_in_callback; /* it was an error in a callback, not a rejection */
  /* Diagnostics (tide.debug, tide.handles; DESIGN.md "Diagnostics"). */
  int origins;       /* registry ref: weak-keyed object -> "file:line" */
  int debug_origins; /* tide.debug{origins=true}: every promise records one */
  uint64_t slow_ns;  /* tide.debug{slow=}: report longer steps; 0: off */
  int on_slow;       /* registry ref of the slow-step handler, or LUA_NOREF */
  int lib_ref;       /* registry ref of the source prefix of tide's Lua files */
  const char *lib;   /* that prefix ("@/.../tide/"), skipped in origins */
  size_t lib_len;
  const void *promise_mt, *task_mt, *op_mt;   /* metatable identities */
  int promise_mt_ref, task_mt_ref, op_mt_ref; /* the same tables, by registry ref */
  uint32_t n_live_tasks;
  uint64_t tasks_spawned; /* the sequence number of the last task spawned */
  int gc_stress;          /* full collection at every await and callback */
  int closed;             /* the state is closing: no more Lua */

  /* The modules' own state, opaque here. */
  void *timer;         /* timer.c */
  void *http;          /* http_client.c (libcurl share handle, ...) */
  void *driver;        /* loop.c */
  void *fs_reqs;       /* fs.c's requests in libuv's thread pool (a list) */
  uint32_t fs_pending; /* how many: cancelled ones too, until libuv is done */
  void *procs;         /* proc.c's child processes (a list) */

  /* Registries filled when the files above open (see "Hooks" above). */
  tide_react_fn reactions[TIDE_K_COUNT];
  const tide_module *modules[TIDE_MODULES_MAX];
  int n_modules;
  tide_closing_fn closing[TIDE_MODULES_MAX];
  int n_closing;
  /* Upward calls: the few places where a lower file must call a higher one
   * go through these pointers, set by the higher file when it opens. */
  /* task.c: resumes the task whose coroutine co waits in await for promise
   * p, unless that wakeup is stale (the task stopped waiting for p). */
  void (*wake)(lua_State *L, tide_ctx *ctx, lua_State *co, const tide_promise *p);
  /* promise.c: runs a thenable job; its table {promise, x, then} is on top
   * (popped). Called by the drain. */
  void (*thenable_job)(lua_State *L, tide_ctx *ctx);
  /* loop.c: the top-level wait: runs the loop on L until the promise at p
   * settles (raises a deadlock or an interruption). Called by await. */
  void (*wait_toplevel)(lua_State *L, tide_ctx *ctx, int p, const char *what);
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

/* Microtasks: queues the job (value at a, value at b); see ctx.c. */
void tide_job_push(lua_State *L, tide_ctx *ctx, int a, int b);
/* Keeps the value at v alive until the microtask queue has run every job
 * queued so far (a task ended while wakeups for its coroutine were queued). */
void tide_job_hold(lua_State *L, tide_ctx *ctx, int v);
/* Queues the wakeup of the task waiting in await on coroutine co for
 * promise p (a reaction that is a coroutine). A coroutine whose extra space
 * is NULL (its task has ended) gets none. */
void tide_wake_push(lua_State *L, tide_ctx *ctx, lua_State *co, const tide_promise *p);
/* Runs queued microtasks until none are left, then reports unhandled
 * rejections. Called after every loop callback. */
void tide_drain(tide_ctx *ctx);
/* Records a rejected promise at p that nobody handles yet. */
void tide_track_rejection(lua_State *L, tide_ctx *ctx, int p, tide_promise *pr);
/* Whether this is lua.c's interactive REPL (lua5.4, lua5.4 -i), not a
 * script or a host without `arg`. */
int tide_interactive(lua_State *L);
/* Reports an error nobody handled (promise at p, or 0 for a callback). */
void tide_report_unhandled(lua_State *L, tide_ctx *ctx, int err, int p);
/* report.c: the same, with the traceback at tb (or 0): calls the
 * on_unhandled handler, and writes to stderr when that raises. */
void tide_report(lua_State *L, tide_ctx *ctx, int err, int p, int tb);
/* Pushes tostring(value at idx), or a fallback text when that raises;
 * returns it. */
const char *tide_safe_tostring(lua_State *L, int idx);
/* Whether a script runs (lua5.4 file.lua, -e code, piped code), not the
 * interactive REPL or a host without `arg`. */
int tide_in_script(lua_State *L);
/* Sets the handler the driver calls for ev. */
void tide_on_event(tide_ctx *ctx, tide_event ev, tide_event_fn fn);
/* Calls the function below its n arguments in protected mode; an error is
 * reported as unhandled. Leaves the stack as it was before the function. */
void tide_call_cb(lua_State *L, tide_ctx *ctx, int nargs);

static inline tide_promise *tide_topromise(lua_State *L, tide_ctx *ctx, int idx) {
  const void *mt;
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
  mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  if (mt != ctx->promise_mt && mt != ctx->task_mt && mt != ctx->op_mt) return NULL;
  return lua_touserdata(L, idx);
}

/* Origins: records where the object at obj is being made -- "file:line" of
 * the innermost caller outside tide's own Lua files -- for tide.handles,
 * tide.dump and reports. About 0.2 us: ops, tasks and timers record one;
 * plain promises only with tide.debug{origins = true}. */
void tide_origin_record(lua_State *L, tide_ctx *ctx, int obj);
/* Pushes the origin of the object at obj, or nil. */
void tide_origin_push(lua_State *L, tide_ctx *ctx, int obj);
/* Slow steps (tide.debug{slow=}): `what` ran from t0 (uv_hrtime) until now;
 * when that is longer than ctx->slow_ns, reports it through the handler
 * with the traceback of thread co (or of L when co is NULL). */
void tide_slow_check(lua_State *L, tide_ctx *ctx, uint64_t t0, const char *what,
                     lua_State *co);

/* Runs reaction r for the settled promise p, through its kind's hook. */
static inline void tide_react(lua_State *L, tide_ctx *ctx, int p, int r) {
  ctx->reactions[((tide_promise *)lua_touserdata(L, r))->kind](L, ctx, p, r);
}
/* core.on_unhandled, queue_microtask, report_error, debug_set, origin,
 * lib_source */
void tide_ctx_open(lua_State *L, tide_ctx *ctx);
/* core.interpose (class.c) */
void tide_class_open(lua_State *L, tide_ctx *ctx);
void tide_loop_open(lua_State *L, tide_ctx *ctx);
void tide_gc_stress(lua_State *L, tide_ctx *ctx);

/* Registers funcs with the context as upvalue 1 into the table on top. */
void tide_setfuncs(lua_State *L, tide_ctx *ctx, const luaL_Reg *funcs);

/* Makes the class of a C object: the metatable `name` (luaL_newmetatable,
 * so __name is set and messages name the type), whose __index is a new
 * table of `methods`, with `metamethods` (__tostring, __gc, __close, ...)
 * set on the metatable itself. Every function gets ctx as upvalue 1, so
 * each can check its own argument (a check accessor: luaL_checkudata, or
 * tide_checkpromise). With a `parent` class (or NULL), the class starts
 * with the parent's methods and inherits those added to the parent later.
 * Leaves the metatable on the stack.
 *
 * The Lua layer extends a class only through core.interpose(name, method,
 * fn) -> previous (class.c): the one sanctioned way for Lua to add or wrap a
 * method of a C class. */
void tide_class_new(lua_State *L, tide_ctx *ctx, const char *name, const char *parent,
                    const luaL_Reg *methods, const luaL_Reg *metamethods);

#endif
