/* loop.c -- the per-lua_State context: its libuv loop and the driver that
 * runs it (tide.run, top-level await) with deadlock detection and Ctrl-C,
 * the microtask queue and its drain, anchors, and reports of unhandled
 * rejections.
 *
 * The driver alternates uv_run with the handling of the events that libuv
 * callbacks posted (see tide.h): no Lua runs inside uv_run. The whole wait
 * runs under one protected call, so that even an out-of-memory error leaves
 * the context consistent before it reaches the caller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

static const char ctx_key = 'k'; /* registry key of the context sentinel */
static const char tb_key = 't';  /* registry key: last callback traceback */

tide_ctx *tide_ctx_get(lua_State *L) {
  tide_ctx **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
  box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

tide_ctx *tide_ctx_check(lua_State *L, int box) {
  tide_ctx **b = lua_touserdata(L, box);
  if (b == NULL || *b == NULL)
    luaL_error(L, "tide cannot be used any more: the Lua state is closing (this "
                  "finalizer runs after tide's own)");
  return *b;
}

void tide_push_ctx(lua_State *L, tide_ctx *ctx) {
  (void)ctx;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
}

void tide_setfuncs(lua_State *L, tide_ctx *ctx, const luaL_Reg *funcs) {
  tide_push_ctx(L, ctx);
  luaL_setfuncs(L, funcs, 1);
}

void tide_gc_stress(lua_State *L, tide_ctx *ctx) {
  if (ctx->gc_stress) lua_gc(L, LUA_GCCOLLECT);
}

/* ---------------------------------------------------------------------------
 * Anchors: C-held references to Lua objects */

/* Anchors live in one table, indexed by slots that a C free list hands out:
 * cheaper than luaL_ref, which keeps its free list inside the table. */
int tide_anchor(lua_State *L, tide_ctx *ctx) {
  int ref = ctx->anchor_nfree ? ctx->anchor_free[--ctx->anchor_nfree] : ++ctx->anchor_top;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  return ref;
}

void tide_unanchor(lua_State *L, tide_ctx *ctx, int ref) {
  if (ref <= 0) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors);
  lua_pushnil(L);
  lua_rawseti(L, -2, ref);
  lua_pop(L, 1);
  if (ctx->anchor_nfree == ctx->anchor_capfree) {
    void *ud;
    lua_Alloc alloc = lua_getallocf(L, &ud);
    int cap = ctx->anchor_capfree ? ctx->anchor_capfree * 2 : 256;
    int *free_slots =
        alloc(ud, ctx->anchor_free, sizeof(int) * (size_t)ctx->anchor_capfree,
              sizeof(int) * (size_t)cap);
    if (!free_slots) return; /* out of memory: the slot is simply not reused */
    ctx->anchor_free = free_slots;
    ctx->anchor_capfree = cap;
  }
  ctx->anchor_free[ctx->anchor_nfree++] = ref;
}

void tide_push_anchored(lua_State *L, tide_ctx *ctx, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors);
  lua_rawgeti(L, -1, ref);
  lua_remove(L, -2);
}

/* ---------------------------------------------------------------------------
 * Callbacks into Lua */

/* Message handler for callbacks: keeps a traceback aside and returns the
 * error unchanged, so that the reported reason is what the code raised. */
static int callback_msgh(lua_State *L) {
  luaL_traceback(L, L, NULL, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tb_key);
  lua_settop(L, 1);
  return 1;
}

static void report(lua_State *L, tide_ctx *ctx, int err, int p, int tb);

void tide_call_cb(lua_State *L, tide_ctx *ctx, int nargs) {
  int fn = lua_gettop(L) - nargs;
  lua_pushcfunction(L, callback_msgh);
  lua_insert(L, fn);
  tide_gc_stress(L, ctx);
  if (lua_pcall(L, nargs, 0, fn) != LUA_OK) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &tb_key);
    report(L, ctx, -2, 0, -1);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * Unhandled rejections */

static int tostring_unprotected(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* Pushes tostring(value at idx), or a fallback text when that raises (a
 * __tostring that fails, or runs out of memory): reporting never fails. */
static const char *safe_tostring(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, tostring_unprotected);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s whose __tostring raised an error)", luaL_typename(L, idx));
  }
  return lua_tostring(L, -1);
}

/* The default handler: writes the reason, and the failed task's traceback
 * when there is one, to stderr. (reason, promise [, traceback]) */
static int default_unhandled(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = tide_topromise(L, ctx, 2);
  const char *tb = NULL;
  lua_settop(L, 3);
  safe_tostring(L, 1);
  if (lua_type(L, 3) == LUA_TSTRING) {
    tb = lua_tostring(L, 3);
  } else if (p && p->kind == TIDE_K_TASK &&
             lua_getiuservalue(L, 2, TIDE_UV_AUX) == LUA_TSTRING) {
    tb = lua_tostring(L, -1);
  }
  fprintf(stderr, "tide: unhandled %s: %s\n", p ? "rejection" : "error in a callback",
          lua_tostring(L, 4));
  if (tb) fprintf(stderr, "%s\n", tb);
  fflush(stderr);
  return 0;
}

static void report(lua_State *L, tide_ctx *ctx, int err, int p, int tb) {
  err = lua_absindex(L, err);
  if (p) p = lua_absindex(L, p);
  if (tb) tb = lua_absindex(L, tb);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_unhandled);
  lua_pushvalue(L, err);
  if (p)
    lua_pushvalue(L, p);
  else
    lua_pushnil(L);
  if (tb)
    lua_pushvalue(L, tb);
  else
    lua_pushnil(L);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    /* A failing handler must still not lose anything. */
    fprintf(stderr, "tide: the on_unhandled handler raised: %s\n", safe_tostring(L, -1));
    lua_pop(L, 2);
  }
}

void tide_report_unhandled(lua_State *L, tide_ctx *ctx, int err, int p) {
  report(L, ctx, err, p, 0);
}

void tide_track_rejection(lua_State *L, tide_ctx *ctx, int p, tide_promise *pr) {
  if (pr->flags & (TIDE_F_TRACKED | TIDE_F_QUIET)) return;
  pr->flags |= TIDE_F_TRACKED;
  lua_pushvalue(L, p);
  tide_ring_push(L, &ctx->rejections, 1);
}

/* tide.on_unhandled(fn | nil) -> previous handler */
static int l_on_unhandled(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->on_unhandled);
  if (lua_isnil(L, 1)) {
    tide_push_ctx(L, ctx);
    lua_pushcclosure(L, default_unhandled, 1);
  } else {
    lua_pushvalue(L, 1);
  }
  lua_rawseti(L, LUA_REGISTRYINDEX, ctx->on_unhandled);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Microtasks
 *
 * A job is a pair (a, b):
 *   a promise, b reaction  -> tide_react(a, b)
 *   a table {p, x, then}   -> call then(x, resolve, reject) for p
 *   a function, b value    -> a(b)  (tide.queue_microtask) */

/* Appends an entry to the C queue; raises when out of memory. */
static void queue_push(lua_State *L, tide_ctx *ctx, lua_State *co,
                       const tide_promise *p) {
  tide_job *j;
  if (ctx->q_count == ctx->q_cap) {
    uint32_t cap = ctx->q_cap ? ctx->q_cap * 2 : 256;
    tide_job *q = ctx->alloc(ctx->alloc_ud, NULL, 0, cap * sizeof *q);
    if (!q) luaL_error(L, "not enough memory");
    for (uint32_t i = 0; i < ctx->q_count; i++)
      q[i] = ctx->queue[(ctx->q_head + i) & (ctx->q_cap - 1)];
    ctx->alloc(ctx->alloc_ud, ctx->queue, ctx->q_cap * sizeof *q, 0);
    ctx->queue = q;
    ctx->q_cap = cap;
    ctx->q_head = 0;
  }
  j = &ctx->queue[(ctx->q_head + ctx->q_count++) & (ctx->q_cap - 1)];
  j->co = co;
  j->promise = p;
}

void tide_job_push(lua_State *L, tide_ctx *ctx, int a, int b) {
  tide_ring_push2(L, &ctx->jobs, a, b);
  queue_push(L, ctx, NULL, NULL);
}

void tide_wake_push(lua_State *L, tide_ctx *ctx, lua_State *co, const tide_promise *p) {
  queue_push(L, ctx, co, p);
}

void tide_drain(tide_ctx *ctx) {
  lua_State *L = ctx->L;
  int base, jobs, reported = 0;
  if (L == NULL || ctx->draining) return;
  ctx->draining = 1;
  luaL_checkstack(L, 32, "tide: microtask queue");
  base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->jobs.ref); /* grows in place: stays valid */
  jobs = base + 1;
  /* Rejections are reported in one round per drain: those that appear after
   * it (an on_unhandled handler that itself fails a task, say) wait for the
   * next drain, so such a cycle still lets the loop turn. */
  while (ctx->q_count || (ctx->rejections.count && !reported)) {
    while (ctx->q_count) {
      tide_job j = ctx->queue[ctx->q_head];
      ctx->q_head = (ctx->q_head + 1) & (ctx->q_cap - 1);
      ctx->q_count--;
      if (j.co) {
        /* Stale if the task stopped waiting for that promise (cancelled). */
        tide_task *t = tide_task_of(j.co);
        if (t && t->run == TIDE_TASK_WAITING && t->awaiting == j.promise)
          tide_task_wake(L, ctx, j.co);
        continue;
      }
      tide_ring_shift_at(L, &ctx->jobs, jobs, 2); /* a, b */
      switch (lua_type(L, jobs + 1)) {
      case LUA_TUSERDATA:
        tide_react(L, ctx, jobs + 1, jobs + 2);
        break;
      case LUA_TTABLE:
        lua_pop(L, 1);
        tide_thenable_job(L, ctx);
        break;
      default:
        tide_call_cb(L, ctx, 1);
        break;
      }
      lua_settop(L, jobs);
    }
    /* The queue is empty: whatever is still rejected without a handler is
     * reported, once. */
    if (ctx->q_count || !ctx->rejections.count) continue;
    reported = 1;
    for (size_t n = ctx->rejections.count; n > 0; n--) {
      tide_promise *p;
      tide_ring_shift(L, &ctx->rejections, 1);
      p = lua_touserdata(L, -1);
      p->flags &= (uint8_t)~TIDE_F_TRACKED;
      if (!(p->flags & (TIDE_F_HANDLED | TIDE_F_QUIET))) {
        p->flags |= TIDE_F_HANDLED;
        lua_getiuservalue(L, -1, TIDE_UV_STATE);
        report(L, ctx, -1, -2, 0);
      }
      lua_settop(L, jobs);
    }
  }
  lua_settop(L, base);
  ctx->draining = 0;
}

/* tide.queue_microtask(fn [, arg]) */
static int l_queue_microtask(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 2);
  tide_job_push(L, ctx, 1, 2);
  return 0;
}

/* ---------------------------------------------------------------------------
 * Ctrl-C while the top level waits */

/* Registry keys: the promise the top level waits for; the error to raise
 * when Ctrl-C stopped a wait that had nothing to cancel. */
static const char waited_key = 'w';
static const char interrupt_key = 'i';

static void sigint_event(lua_State *L, tide_ctx *ctx) {
  int cancelled;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waited_key);
  tide_error_push(L, "cancelled", "interrupted (Ctrl-C)");
  lua_pushliteral(L, "interrupted");
  lua_setfield(L, -2, "reason");
  cancelled = tide_cancel(L, ctx, -2, -1);
  if (!cancelled) {
    /* Nothing to cancel (a plain promise): stop waiting at once. */
    ctx->interrupted = 2;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &interrupt_key);
  } else {
    ctx->interrupted = 1;
  }
  lua_pop(L, 2);
  tide_drain(ctx);
}

static void sigint_cb(uv_signal_t *h, int signum) {
  tide_ctx *ctx = h->data;
  (void)signum;
  uv_signal_stop(h);
  /* A second Ctrl-C ends the process as usual. */
  signal(SIGINT, SIG_DFL);
  tide_post(ctx, TIDE_EV_SIGINT);
}

static void sigint_watch(lua_State *L, tide_ctx *ctx, int p) {
  lua_pushvalue(L, p);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &waited_key);
  ctx->interrupted = 0;
  sigaction(SIGINT, NULL, &ctx->saved_sigint);
  if (uv_signal_start(&ctx->sigint, sigint_cb, SIGINT) == 0)
    uv_unref((uv_handle_t *)&ctx->sigint);
}

static void sigint_unwatch(lua_State *L, tide_ctx *ctx) {
  uv_signal_stop(&ctx->sigint);
  sigaction(SIGINT, &ctx->saved_sigint, NULL);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &waited_key);
}

/* ---------------------------------------------------------------------------
 * The driver */

void tide_on_event(tide_ctx *ctx, tide_event ev, tide_event_fn fn) {
  ctx->handlers[ev] = fn;
}

void tide_io_done(tide_ctx *ctx, tide_io *io) {
  io->next = NULL;
  if (ctx->io_tail)
    ctx->io_tail->next = io;
  else
    ctx->io_head = io;
  ctx->io_tail = io;
  tide_post(ctx, TIDE_EV_IO);
}

/* The TIDE_EV_IO handler: completes finished I/O in order, draining the
 * microtasks after each. */
static void io_event(lua_State *L, tide_ctx *ctx) {
  tide_io *io;
  while ((io = ctx->io_head) != NULL) {
    ctx->io_head = io->next;
    if (!ctx->io_head) ctx->io_tail = NULL;
    io->complete(L, ctx, io);
    tide_drain(ctx);
  }
}

/* Handles what the last loop iteration recorded, in phase order. */
static void handle_events(lua_State *L, tide_ctx *ctx) {
  while (ctx->events) {
    unsigned events = ctx->events;
    ctx->events = 0;
    for (int ev = 0; ev < TIDE_EV_COUNT; ev++)
      if ((events & (1u << ev)) && ctx->handlers[ev]) ctx->handlers[ev](L, ctx);
  }
}

/* One loop iteration (or more, while nothing happens), then its events.
 * Returns 0 when no work is left at all. */
static int turn(lua_State *L, tide_ctx *ctx) {
  int alive;
  if (ctx->rejections.count) {
    /* Rejections left for a later drain: poll, then report them. */
    uv_run(&ctx->loop, UV_RUN_NOWAIT);
    handle_events(L, ctx);
    tide_drain(ctx);
    return 1;
  }
  alive = uv_run(&ctx->loop, UV_RUN_DEFAULT);
  if (ctx->events) {
    handle_events(L, ctx);
    return 1;
  }
  return alive || ctx->q_count > 0;
}

/* Protected body of a wait. upvalues: none; args: ctx, promise or nil. */
static int drive(lua_State *L) {
  tide_ctx *ctx = lua_touserdata(L, 1);
  tide_promise *pr = lua_touserdata(L, 2);
  tide_drain(ctx);
  if (pr == NULL) {
    while (turn(L, ctx)) {
    }
    return 0;
  }
  while (pr->state == TIDE_PENDING && ctx->interrupted != 2) {
    if (!turn(L, ctx) && pr->state == TIDE_PENDING) {
      lua_pushboolean(L, 1); /* deadlock */
      return 1;
    }
  }
  return 0;
}

/* Runs the loop on L until the promise at p settles (p == 0: until no work
 * is left). Raises what the wait raised, a deadlock or an interruption. */
static void wait_on(lua_State *L, tide_ctx *ctx, int p, const char *what) {
  int status, deadlock;
  if (p) {
    p = lua_absindex(L, p);
    /* The top level handles whatever the promise settles with. */
    ((tide_promise *)lua_touserdata(L, p))->flags |= TIDE_F_HANDLED;
  }
  luaL_checkstack(L, 40, "tide: event loop");
  ctx->L = L;
  ctx->busy++;
  if (p) sigint_watch(L, ctx, p);
  lua_pushcfunction(L, drive);
  lua_pushlightuserdata(L, ctx);
  if (p)
    lua_pushlightuserdata(L, lua_touserdata(L, p));
  else
    lua_pushnil(L);
  status = lua_pcall(L, 2, 1, 0);
  /* Whatever happened, the context is the caller's again. */
  if (p) sigint_unwatch(L, ctx);
  ctx->draining = 0;
  ctx->busy--;
  ctx->L = NULL;
  if (status != LUA_OK) lua_error(L);
  deadlock = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (ctx->interrupted == 2) {
    ctx->interrupted = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &interrupt_key);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &interrupt_key);
    lua_error(L);
  }
  if (deadlock) {
    luaL_tolstring(L, p, NULL);
    tide_error_push(L, "deadlock",
                    "%s is waiting on %s, but no work is left that could settle it", what,
                    lua_tostring(L, -1));
    lua_error(L);
  }
}

void tide_wait_toplevel(lua_State *L, tide_ctx *ctx, int p, const char *what) {
  wait_on(L, ctx, p, what);
}

void tide_check_toplevel(lua_State *L, tide_ctx *ctx, const char *fname) {
  if (!ctx->busy) return;
  if (tide_current(ctx, L))
    tide_usage_error(L, "%s cannot be called inside a task: use tide.await", fname);
  tide_usage_error(L,
                   "%s cannot be called while the event loop is running (loops do "
                   "not nest): start the work with tide.spawn instead",
                   fname);
}

/* tide.run(fn, ...) -> fn's result; tide.run() -> drives the loop until idle. */
static int l_run(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *t;
  tide_check_toplevel(L, ctx, "tide.run");
  if (lua_isnoneornil(L, 1)) {
    wait_on(L, ctx, 0, "tide.run");
    return 0;
  }
  tide_spawn(L, ctx, 1, lua_gettop(L) - 1);
  t = lua_touserdata(L, -1);
  tide_wait_toplevel(L, ctx, -1, "tide.run's main task");
  t->flags |= TIDE_F_HANDLED;
  lua_getiuservalue(L, -1, TIDE_UV_STATE);
  if (t->state == TIDE_REJECTED) lua_error(L);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Introspection */

static void count_handle(uv_handle_t *h, void *arg) {
  if (uv_is_active(h) && uv_has_ref(h)) (*(int *)arg)++;
}

/* core.stats() -> {tasks, timers, immediates, jobs, handles, fs} for leak
 * checks; fs: file requests still in libuv's thread pool (cancelled ones
 * too: a blocked open holds one of its threads). */
static int l_stats(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  int handles = 0;
  uv_walk(&ctx->loop, count_handle, &handles);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, ctx->n_live_tasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, ctx->timers.size);
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, ctx->immediates_live);
  lua_setfield(L, -2, "immediates");
  lua_pushinteger(L, ctx->q_count);
  lua_setfield(L, -2, "jobs");
  lua_pushinteger(L, handles);
  lua_setfield(L, -2, "handles");
  lua_pushinteger(L, ctx->fs_pending);
  lua_setfield(L, -2, "fs");
  return 1;
}

/* core.set_signal_linker(fn): the Lua layer's fn(signal, promise). */
static int l_set_signal_linker(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  lua_rawseti(L, LUA_REGISTRYINDEX, ctx->signal_linker);
  return 0;
}

/* Hands an options table to the Lua layer's one option policy,
 * check.options(opts, nil, fname, n) (unknown options are usage errors),
 * when tide.check is loaded; only called when options are given. */
static void check_options(lua_State *L, int opts, const char *fname, int n) {
  int top = lua_gettop(L);
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE) == LUA_TTABLE &&
      lua_getfield(L, -1, "tide.check") == LUA_TTABLE &&
      lua_getfield(L, -1, "options") == LUA_TFUNCTION) {
    lua_pushvalue(L, opts);
    lua_pushnil(L);
    lua_pushstring(L, fname);
    lua_pushinteger(L, n);
    lua_call(L, 4, 0);
  }
  lua_settop(L, top);
}

int tide_opt_signal(lua_State *L, int opts, const char *fname) {
  if (lua_type(L, opts) != LUA_TTABLE) return 0;
  check_options(L, opts, fname, opts);
  if (lua_getfield(L, opts, "signal") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!luaL_testudata(L, -1, TIDE_SIGNAL_MT)) {
    int ok = 0;
    if (lua_getmetatable(L, -1)) {
      luaL_getmetatable(L, TIDE_SIGNAL_MT);
      ok = lua_rawequal(L, -1, -2);
      lua_pop(L, 2);
    }
    if (!ok)
      luaL_error(L, "bad option 'signal' (tide.signal expected, got %s)",
                 luaL_typename(L, -1));
  }
  return lua_gettop(L);
}

void tide_link_signal(lua_State *L, tide_ctx *ctx, int sig, int p) {
  sig = lua_absindex(L, sig);
  p = lua_absindex(L, p);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->signal_linker);
  lua_pushvalue(L, sig);
  lua_pushvalue(L, p);
  lua_call(L, 2, 0);
}

/* core.report_error(err): hands err to the unhandled-error handler (for
 * errors the Lua layer catches in callbacks, such as on_abort listeners). */
static int l_report_error(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_settop(L, 1);
  tide_report_unhandled(L, ctx, 1, 0);
  return 0;
}

/* ---------------------------------------------------------------------------
 * Life cycle */

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* __gc of the context sentinel: runs at lua_close. */
static int ctx_gc(lua_State *L) {
  tide_ctx **box = lua_touserdata(L, 1);
  tide_ctx *ctx = *box;
  void *ud;
  lua_Alloc alloc;
  if (!ctx) return 0;
  *box = NULL;
  if (ctx->n_live_tasks > 0) {
    /* Nothing is lost silently: work the loop never finished. */
    fprintf(stderr,
            "tide: %u task(s) never finished: the loop stopped before they did "
            "(await them, or end with tide.run() to let them finish)\n",
            (unsigned)ctx->n_live_tasks);
    fflush(stderr);
  }
  ctx->closed = 1;
  ctx->L = NULL;
  tide_timer_close(ctx);
  uv_walk(&ctx->loop, close_walk_cb, NULL);
  tide_fs_close(ctx);
  /* Lets requests in libuv's thread pool finish, then drops what they
   * would have settled. */
  uv_run(&ctx->loop, UV_RUN_DEFAULT);
  while (ctx->io_head) {
    tide_io *io = ctx->io_head;
    ctx->io_head = io->next;
    io->discard(ctx, io);
  }
  uv_loop_close(&ctx->loop);
  tide_http_close(ctx);
  tide_heap_free(&ctx->timers);
  alloc = lua_getallocf(L, &ud);
  alloc(ud, ctx->anchor_free, sizeof(int) * (size_t)ctx->anchor_capfree, 0);
  alloc(ud, ctx->queue, sizeof(*ctx->queue) * ctx->q_cap, 0);
  alloc(ud, ctx, sizeof *ctx, 0);
  return 0;
}

static int new_ref_table(lua_State *L) {
  lua_newtable(L);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Creates the context for L (or returns the existing one). */
tide_ctx *tide_ctx_new(lua_State *L) {
  tide_ctx *ctx = tide_ctx_get(L), **box;
  void *ud;
  lua_Alloc alloc;
  const char *stress;
  if (ctx) return ctx;
  /* An emptied box: the state is closing, and no new context could be freed. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key) != LUA_TNIL) tide_ctx_check(L, -1);
  lua_pop(L, 1);
  alloc = lua_getallocf(L, &ud);
  ctx = alloc(ud, NULL, 0, sizeof *ctx);
  if (!ctx) luaL_error(L, "tide: not enough memory");
  memset(ctx, 0, sizeof *ctx);
  ctx->alloc = alloc;
  ctx->alloc_ud = ud;
  box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = ctx;
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, TIDE_CTX_MT);
  lua_setfield(L, -2, "__name");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);

  if (uv_loop_init(&ctx->loop) != 0) luaL_error(L, "tide: cannot create an event loop");
  ctx->loop.data = ctx;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  ctx->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  tide_ring_init(L, &ctx->jobs, 256);
  tide_ring_init(L, &ctx->rejections, 16);
  ctx->anchors = new_ref_table(L);
  ctx->tracebacks = new_ref_table(L);
  tide_push_ctx(L, ctx);
  lua_pushcclosure(L, default_unhandled, 1);
  ctx->on_unhandled = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushboolean(L, 0);
  ctx->signal_linker = luaL_ref(L, LUA_REGISTRYINDEX);
  uv_signal_init(&ctx->loop, &ctx->sigint);
  ctx->sigint.data = ctx;
  tide_on_event(ctx, TIDE_EV_SIGINT, sigint_event);
  tide_on_event(ctx, TIDE_EV_IO, io_event);
  stress = getenv("TIDE_GC_STRESS");
  ctx->gc_stress = stress && *stress && strcmp(stress, "0") != 0;
  return ctx;
}

void tide_loop_open(lua_State *L, tide_ctx *ctx) {
  luaL_newmetatable(L, TIDE_SIGNAL_MT);
  lua_setfield(L, -2, "signal_mt");
  static const luaL_Reg funcs[] = {{"run", l_run},
                                   {"on_unhandled", l_on_unhandled},
                                   {"queue_microtask", l_queue_microtask},
                                   {"stats", l_stats},
                                   {"set_signal_linker", l_set_signal_linker},
                                   {"report_error", l_report_error},
                                   {NULL, NULL}};
  tide_setfuncs(L, ctx, funcs);
}
