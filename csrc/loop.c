/* loop.c -- the driver: loop turns and the events libuv callbacks posted,
 * tide.run and top-level waits with deadlock detection, Ctrl-C while the top
 * level waits, and core.stats.
 *
 * May call: the files below it (ctx.c, error.c, op.c, task.c) and the
 * stats hooks of the modules. It registers the context's wait_toplevel hook
 * (await at the top level, in task.c, goes through it).
 *
 * The driver alternates uv_run with the handling of the events that libuv
 * callbacks posted (see tide.h): no Lua runs inside uv_run. The whole wait
 * runs under one protected call, so that even an out-of-memory error leaves
 * the context consistent before it reaches the caller. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

/* The driver's own state (ctx->driver). */
typedef struct loop_state {
  uv_signal_t sigint; /* Ctrl-C while the top level waits */
  int interrupted;    /* 1: Ctrl-C cancelled the wait; 2: stop waiting now */
  int failing;        /* ctx->failure cancelled the wait */
  struct sigaction saved_sigint;
} loop_state;

static loop_state *loop_of(tide_ctx *ctx) { return ctx->driver; }

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
    loop_of(ctx)->interrupted = 2;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &interrupt_key);
  } else {
    loop_of(ctx)->interrupted = 1;
  }
  lua_pop(L, 2);
  tide_drain(ctx);
}

static void sigint_cb(uv_signal_t *h, int signum) {
  tide_ctx *ctx = h->loop->data;
  (void)signum;
  uv_signal_stop(h);
  /* A second Ctrl-C ends the process as usual. */
  signal(SIGINT, SIG_DFL);
  tide_post(ctx, TIDE_EV_SIGINT);
}

static void sigint_watch(lua_State *L, tide_ctx *ctx, int p) {
  lua_pushvalue(L, p);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &waited_key);
  loop_of(ctx)->interrupted = 0;
  sigaction(SIGINT, NULL, &loop_of(ctx)->saved_sigint);
  if (uv_signal_start(&loop_of(ctx)->sigint, sigint_cb, SIGINT) == 0)
    uv_unref((uv_handle_t *)&loop_of(ctx)->sigint);
}

static void sigint_unwatch(lua_State *L, tide_ctx *ctx) {
  uv_signal_stop(&loop_of(ctx)->sigint);
  sigaction(SIGINT, &loop_of(ctx)->saved_sigint, NULL);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &waited_key);
}

/* ---------------------------------------------------------------------------
 * The driver */

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

/* Pushes the `unhandled` error that ends the script, caused by the error
 * nobody handled (ctx->failure); `clear`: forgets that error. */
static void push_failure(lua_State *L, tide_ctx *ctx, int clear) {
  tide_error_push(L, "unhandled", "the script stops: an unhandled %s (reported above)",
                  ctx->failure_in_callback ? "error in a callback" : "rejection");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->failure);
  lua_setfield(L, -2, "cause");
  if (clear) {
    luaL_unref(L, LUA_REGISTRYINDEX, ctx->failure);
    ctx->failure = LUA_NOREF;
  }
}

/* An unhandled error fails the script (ctx->failure): cancels what the top
 * level waits for with it, as Ctrl-C does, so that cleanup runs. Returns 1
 * if the wait is to stop now. */
static int fail_wait(lua_State *L, tide_ctx *ctx) {
  int cancelled;
  if (loop_of(ctx)->failing) return 0;
  loop_of(ctx)->failing = 1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &waited_key);
  push_failure(L, ctx, 0);
  tide_push_cancelled(L, -1);
  cancelled = tide_cancel(L, ctx, -3, -1);
  lua_pop(L, 3);
  tide_drain(ctx);
  return !cancelled;
}

/* Protected body of a wait. upvalues: none; args: ctx, promise or nil. */
static int drive(lua_State *L) {
  tide_ctx *ctx = lua_touserdata(L, 1);
  tide_promise *pr = lua_touserdata(L, 2);
  tide_drain(ctx);
  if (pr == NULL) {
    while (ctx->failure == LUA_NOREF && turn(L, ctx)) {
    }
    return 0;
  }
  while (pr->state == TIDE_PENDING && loop_of(ctx)->interrupted != 2) {
    if (ctx->failure != LUA_NOREF && fail_wait(L, ctx)) return 0;
    if (!turn(L, ctx) && pr->state == TIDE_PENDING) {
      lua_pushboolean(L, 1); /* deadlock */
      return 1;
    }
  }
  /* Rejections of the last turn are reported before the wait ends. */
  if (ctx->rejections.count && ctx->failure == LUA_NOREF) turn(L, ctx);
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
  loop_of(ctx)->failing = 0;
  if (status != LUA_OK) lua_error(L);
  deadlock = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (ctx->failure != LUA_NOREF) {
    push_failure(L, ctx, 1);
    lua_error(L);
  }
  if (loop_of(ctx)->interrupted == 2) {
    loop_of(ctx)->interrupted = 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &interrupt_key);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &interrupt_key);
    lua_error(L);
  }
  if (deadlock) {
    luaL_tolstring(L, p, NULL);
    tide_origin_push(L, ctx, p);
    if (lua_type(L, -1) == LUA_TSTRING)
      lua_pushfstring(L, " (made at %s)", lua_tostring(L, -1));
    else
      lua_pushliteral(L, "");
    tide_error_push(L, "deadlock",
                    "%s is waiting on %s%s, but no work is left that could settle it",
                    what, lua_tostring(L, -3), lua_tostring(L, -1));
    lua_error(L);
  }
}

/* Raises a usage error unless the top level may wait here (no loop running,
 * no task on the C stack). */
static void check_toplevel(lua_State *L, tide_ctx *ctx, const char *fname) {
  if (!ctx->busy) return;
  if (tide_current(ctx, L))
    tide_usage_error(L, "%s cannot be called inside a task: use tide.await", fname);
  tide_usage_error(L,
                   "%s cannot be called while the event loop is running (loops do "
                   "not nest): start the work with tide.spawn instead",
                   fname);
}

/* Lost work is never silent: once tide.run's main task has returned, every
 * operation still pending that nobody awaits or handles (no reaction) is
 * reported on stderr, like unfinished tasks, once. */
static void report_unawaited(lua_State *L, tide_ctx *ctx) {
  int n = 0, top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->anchors); /* top + 1 */
  lua_newtable(L);                                 /* top + 2: what to say */
  lua_pushnil(L);
  while (lua_next(L, top + 1)) {
    tide_promise *p = tide_topromise(L, ctx, -1);
    tide_op *op = p ? tide_promise_op(p) : NULL;
    if (p && p->kind == TIDE_K_OP && p->state == TIDE_PENDING && op->ref != LUA_NOREF &&
        !(p->flags & (TIDE_F_HANDLED | TIDE_F_LOST))) {
      p->flags |= TIDE_F_LOST;
      tide_origin_push(L, ctx, -1);
      lua_pushfstring(L, "%s%s%s", op->cls ? op->cls->name : "operation",
                      lua_isstring(L, -1) ? " started at " : "",
                      lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
      lua_rawseti(L, top + 2, ++n);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (n) {
    fprintf(stderr,
            "tide: %d operation(s) were started and never awaited nor handled when "
            "tide.run's main task returned:\n",
            n);
    for (int i = 1; i <= n && i <= 8; i++) {
      lua_rawgeti(L, top + 2, i);
      fprintf(stderr, "  %s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    if (n > 8) fprintf(stderr, "  ...\n");
    fflush(stderr);
  }
  lua_settop(L, top);
}

/* tide.run(fn, ...) -> fn's result; tide.run() -> drives the loop until idle. */
static int l_run(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *t;
  check_toplevel(L, ctx, "tide.run");
  if (lua_isnoneornil(L, 1)) {
    wait_on(L, ctx, 0, "tide.run");
    return 0;
  }
  tide_spawn(L, ctx, 1, lua_gettop(L) - 1);
  t = lua_touserdata(L, -1);
  wait_on(L, ctx, -1, "tide.run's main task");
  t->flags |= TIDE_F_HANDLED;
  report_unawaited(L, ctx);
  lua_getiuservalue(L, -1, TIDE_UV_STATE);
  if (t->state == TIDE_REJECTED) lua_error(L);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Introspection */

static void count_handle(uv_handle_t *h, void *arg) {
  if (uv_is_active(h) && uv_has_ref(h)) (*(int *)arg)++;
}

/* core.stats() -> {tasks, jobs, handles, ...} for leak checks; the modules add
 * their own counts (timer.c: timers, immediates). */
static int l_stats(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  int handles = 0;
  uv_walk(&ctx->loop, count_handle, &handles);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, ctx->n_live_tasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, ctx->q_count);
  lua_setfield(L, -2, "jobs");
  lua_pushinteger(L, handles);
  lua_setfield(L, -2, "handles");
  for (int i = 0; i < ctx->n_modules; i++)
    if (ctx->modules[i]->stats) ctx->modules[i]->stats(L, ctx, lua_gettop(L));
  return 1;
}

/* The driver's teardown: its signal handle is closed by now. */
static void loop_close(tide_ctx *ctx) {
  ctx->alloc(ctx->alloc_ud, ctx->driver, sizeof(loop_state), 0);
  ctx->driver = NULL;
}

static const tide_module loop_module = {"loop", loop_close, NULL, NULL};

void tide_loop_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"run", l_run}, {"stats", l_stats}, {NULL, NULL}};
  loop_state *ls = ctx->alloc(ctx->alloc_ud, NULL, 0, sizeof *ls);
  if (!ls) luaL_error(L, "tide: not enough memory");
  memset(ls, 0, sizeof *ls);
  ctx->driver = ls;
  tide_module_register(ctx, &loop_module);
  uv_signal_init(&ctx->loop, &ls->sigint);
  tide_on_event(ctx, TIDE_EV_SIGINT, sigint_event);
  ctx->wait_toplevel = wait_on;
  tide_setfuncs(L, ctx, funcs);
}
