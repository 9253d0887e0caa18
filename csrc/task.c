/* task.c -- coroutine tasks, await, and cancellation.
 *
 * A task is a promise (tide_task) settled by a coroutine that runs
 * task_main(fn, ...). task_main calls fn under a yieldable pcall, so errors
 * end inside the coroutine: `<close>` handlers and cleanup code can still
 * await while an error unwinds, and the coroutine always returns normally.
 *
 * await suspends with lua_yieldk; whoever resumes the task (a reaction run by
 * the microtask drain) records in the task whether the value is a result or
 * an error, and the continuation returns it or raises it. Awaiting a settled
 * promise returns at once.
 *
 * Ownership: an operation (timer, transfer, child task) started while a task
 * runs belongs to that task. Cancelling the task cancels those operations and
 * delivers a `cancelled` error at the task's await.
 *
 * Introspection (tide.tasks, tide.handles, task:traceback) is in
 * task_info.c. Operations and their cancellation are in op.c; task.h has
 * the task struct they share.
 *
 * May call: ctx.c, class.c, error.c, report.c, promise.c, op.c, task_info.c. It registers
 * the TIDE_K_TASK reaction and ctx->wake; await at the top level goes up to the driver
 * through ctx->wait_toplevel. */
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "tide.h"

/* ---------------------------------------------------------------------------
 * Running a task */

static void task_cancel(lua_State *L, tide_ctx *ctx, int t, int err);
static const tide_op_class task_class = {"task", task_cancel, NULL, 0};

tide_task *tide_current(tide_ctx *ctx, lua_State *L) {
  return ctx->current_L == L ? ctx->current : NULL;
}

/* Message handler of the task's pcall: keeps the traceback of the failing
 * coroutine (keyed by the coroutine) and returns the error unchanged. A task
 * ended by its own cancellation is not a failure (task_finish makes it
 * quiet): it gets no traceback, which would cost more than the rest of the
 * cancellation (luaL_traceback searches package.loaded for every frame). */
static int task_msgh(lua_State *L) {
  tide_ctx *ctx;
  tide_task *task = tide_task_of(L);
  if (task && task->cancelled && tide_is_error(L, 1, "cancelled")) return 1;
  ctx = tide_ctx_get(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->tracebacks);
  lua_pushthread(L);
  luaL_traceback(L, L, NULL, 1);
  lua_rawset(L, -3);
  lua_settop(L, 1);
  return 1;
}

static int task_main_k(lua_State *L, int status, lua_KContext kctx) {
  (void)kctx;
  /* stack: msgh, result-or-error. LUA_YIELD: finished after suspensions. */
  lua_pushboolean(L, status == LUA_OK || status == LUA_YIELD);
  lua_replace(L, 1);
  return 2;
}

/* The body of every task coroutine. stack: fn, args... */
static int task_main(lua_State *L) {
  int nargs = lua_gettop(L) - 1;
  lua_pushcfunction(L, task_msgh);
  lua_insert(L, 1);
  return task_main_k(L, lua_pcallk(L, nargs, 1, 1, 0, task_main_k), 0);
}

/* The coroutine of task t returned (ok, value at v), or failed outside the
 * pcall: settle the task. */
static void task_finish(lua_State *L, tide_ctx *ctx, int t, int ok, int v) {
  tide_task *task = lua_touserdata(L, t);
  lua_State *co;
  v = lua_absindex(L, v);
  task->run = TIDE_TASK_DONE;
  ctx->n_live_tasks--;
  /* Its pending operations carry on without an owner. */
  while (task->children)
    tide_op_untie(task->children);
  tide_op_done(L, ctx, &task->base.op);
  if (task->cancel_pending) {
    /* Cancelled after its last await: it finished first, so it stands. */
    task->cancel_pending = 0;
    lua_pushnil(L);
    lua_setiuservalue(L, t, TIDE_TASK_UV_TARGET);
  }

  /* Keep the traceback of a failure; let the coroutine go. */
  lua_getiuservalue(L, t, TIDE_TASK_UV_CO); /* co */
  co = lua_tothread(L, -1);
  *(tide_task **)lua_getextraspace(co) = NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->tracebacks); /* co tracebacks */
  lua_pushvalue(L, -2);
  lua_rawget(L, -2); /* co tracebacks tb */
  if (!lua_isnil(L, -1)) {
    lua_pushvalue(L, -3);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  if (ok) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  lua_setiuservalue(L, t, TIDE_TASK_UV_CO);
  lua_pop(L, 2);

  if (ok) {
    tide_resolve(L, ctx, t, v);
  } else {
    /* A task ended by its own cancellation is not an unhandled error. */
    if (task->cancelled && tide_is_error(L, v, "cancelled"))
      task->base.promise.flags |= TIDE_F_QUIET;
    tide_settle(L, ctx, t, TIDE_REJECTED, v);
  }
}

/* The reaction of kind TIDE_K_TASK: a task whose body returned a promise
 * adopts it (kept in UV_TARGET); it ignores any other promise. */
static void task_react(lua_State *L, tide_ctx *ctx, int p, int r) {
  tide_promise *src = lua_touserdata(L, p), *rp = lua_touserdata(L, r);
  int adopting;
  if (rp->state != TIDE_PENDING) return;
  lua_getiuservalue(L, r, TIDE_TASK_UV_TARGET);
  adopting = lua_rawequal(L, -1, p);
  lua_pop(L, 1);
  if (!adopting) return;
  lua_getiuservalue(L, p, TIDE_UV_STATE);
  tide_settle(L, ctx, r, (tide_state)src->state, -1);
  lua_pop(L, 1);
}

/* __tostring of tide.task: its state, or for a pending one whether it runs. */
static int task_tostring(lua_State *L) {
  tide_task *task = luaL_checkudata(L, 1, TIDE_TASK_MT);
  lua_settop(L, 1);
  tide_promise_push_tostring(L, 1, TIDE_TASK_MT,
                             task->run == TIDE_TASK_RUNNING ? "running" : "waiting");
  return 1;
}

/* __tostring of an operation's promise: it reads as the promise it is. */
static int op_tostring(lua_State *L) {
  luaL_checkudata(L, 1, TIDE_OP_MT);
  lua_settop(L, 1);
  tide_promise_push_tostring(L, 1, TIDE_PROMISE_MT, "pending");
  return 1;
}

/* Pushes the task userdata (anchored while it is unfinished). */
static void push_task(lua_State *L, tide_ctx *ctx, tide_task *task) {
  tide_push_anchored(L, ctx, task->base.op.ref);
}

#define HIJACKED_MESSAGE                                                                 \
  "a tide task's coroutine was resumed with coroutine.resume: tide resumes its tasks "   \
  "itself"
#define CLOSED_MESSAGE                                                                   \
  "a tide task's coroutine was closed from outside (coroutine.close) while it waited; "  \
  "cancel the task instead"

/* Ends a task whose coroutine was driven behind tide's back, with a usage
 * error saying how.
 *
 * A task that ends by running to its end was resumed by the last wakeup
 * queued for it (the queue runs in order, and a cancellation makes the
 * earlier wakeup stale rather than queueing one before it). One ended here
 * was not: wakeups for its coroutine may still be queued (for what it
 * awaited, for a cancellation, for a child cancelled with it). They find no
 * task once it has ended, but they read the coroutine, which the task no
 * longer holds: it is kept alive until the queue has passed them. */
static void fail_misused(lua_State *L, tide_ctx *ctx, tide_task *task,
                         const char *message) {
  int t;
  push_task(L, ctx, task);
  t = lua_gettop(L);
  lua_getiuservalue(L, t, TIDE_TASK_UV_CO);
  tide_error_push(L, "usage", "%s", message);
  task_finish(L, ctx, t, 0, -1);
  if (ctx->q_count) tide_job_hold(L, ctx, t + 1);
  lua_settop(L, t - 1);
}

/* Resumes coroutine co of its task with nargs values already on co. */
static void task_run(lua_State *L, tide_ctx *ctx, lua_State *co, int nargs) {
  tide_task *task = tide_task_of(co), *prev = ctx->current;
  lua_State *prev_L = ctx->current_L;
  int nres, status;
  ctx->current = task;
  ctx->current_L = co;
  ctx->busy++;
  if (ctx->slow_ns) {
    uint64_t t0 = uv_hrtime();
    status = lua_resume(co, L, nargs, &nres);
    ctx->current = prev;
    ctx->current_L = prev_L;
    ctx->busy--;
    if (status == LUA_YIELD && task->run == TIDE_TASK_WAITING)
      tide_slow_check(L, ctx, t0, "a task step", co);
    else
      tide_slow_check(L, ctx, t0, "the last step of a task", NULL);
  } else {
    status = lua_resume(co, L, nargs, &nres);
    ctx->current = prev;
    ctx->current_L = prev_L;
    ctx->busy--;
  }
  if (status == LUA_YIELD) {
    lua_pop(co, nres);
    if (task->run == TIDE_TASK_WAITING) return;
    /* Someone called coroutine.yield directly: close the coroutine (its
     * <close> variables run) and fail the task with a clear message. */
    lua_resetthread(co);
    lua_settop(co, 0);
    fail_misused(L, ctx, task,
                 "coroutine.yield was called directly inside a tide task; "
                 "use tide.await (or tide.sleep(0):await() to let others run)");
  } else {
    /* LUA_OK: task_main returned (ok, value). Otherwise it failed outside
     * its pcall: out of memory, or an error while handling an error. */
    int ok = status == LUA_OK && lua_toboolean(co, -2);
    push_task(L, ctx, task);
    lua_xmove(co, L, 1);
    lua_settop(co, 0);
    task_finish(L, ctx, lua_gettop(L) - 1, ok, -1);
    lua_pop(L, 2);
  }
}

/* ctx->wake: a wakeup for the task on co, waiting for promise p. */
static void task_wake(lua_State *L, tide_ctx *ctx, lua_State *co, const tide_promise *p) {
  tide_task *task = tide_task_of(co);
  /* Stale if the task stopped waiting for that promise (cancelled). */
  if (!task || task->run != TIDE_TASK_WAITING || task->awaiting != p) return;
  if (task->hijacked || lua_status(co) != LUA_YIELD) {
    /* Someone else resumed or closed it: it cannot be resumed here; it fails. */
    fail_misused(L, ctx, task, task->hijacked ? HIJACKED_MESSAGE : CLOSED_MESSAGE);
    return;
  }
  task->run = TIDE_TASK_RUNNING;
  task->awaiting = NULL;
  tide_gc_stress(L, ctx);
  task_run(L, ctx, co, 0);
}

void tide_spawn(lua_State *L, tide_ctx *ctx, int fn, int nargs) {
  tide_task *task;
  lua_State *co;
  int t;
  fn = lua_absindex(L, fn);
  if (!tide_is_callable(L, fn)) luaL_typeerror(L, fn, "function");
  luaL_checkstack(L, nargs + 8, "too many arguments to spawn");
  task = (tide_task *)tide_promise_new(L, ctx, sizeof(tide_task), TIDE_K_TASK, 3,
                                       TIDE_TASK_MT);
  t = lua_gettop(L);
  co = lua_newthread(L);
  *(tide_task **)lua_getextraspace(co) = task;
  lua_setiuservalue(L, t, TIDE_TASK_UV_CO);
  task->run = TIDE_TASK_RUNNING;
  task->seq = ++ctx->tasks_spawned;
  ctx->n_live_tasks++;
  tide_op_start(L, ctx, t, &task->base.op, &task_class);
  lua_pushcfunction(L, task_main);
  for (int i = 0; i <= nargs; i++)
    lua_pushvalue(L, fn + i);
  lua_xmove(L, co, nargs + 2);
  task_run(L, ctx, co, nargs + 1);
}

/* ---------------------------------------------------------------------------
 * Cancellation */

static void cancel_children(lua_State *L, tide_ctx *ctx, tide_task *task, int err) {
  tide_op *op;
  while ((op = task->children) != NULL) {
    tide_promise *p;
    tide_op_untie(op);
    tide_push_anchored(L, ctx, op->ref);
    p = lua_touserdata(L, -1);
    /* Their rejections are part of this cancellation, not separate errors. */
    p->flags |= TIDE_F_QUIET;
    tide_cancel(L, ctx, -1, err);
    lua_pop(L, 1);
  }
}

static void task_cancel(lua_State *L, tide_ctx *ctx, int t, int err) {
  tide_task *task = lua_touserdata(L, t);
  if (task->run == TIDE_TASK_WAITING) {
    lua_State *co;
    if (task->delivering) return;
    lua_getiuservalue(L, t, TIDE_TASK_UV_CO);
    co = lua_tothread(L, -1);
    lua_pop(L, 1);
    if (lua_status(co) != LUA_YIELD) {
      /* coroutine.close emptied its stack: nothing is left to deliver the
       * error to, so the task ends here, saying why. */
      cancel_children(L, ctx, task, err);
      fail_misused(L, ctx, task, task->hijacked ? HIJACKED_MESSAGE : CLOSED_MESSAGE);
      return;
    }
    /* Stop waiting for what it awaited, then queue the error for it: its
     * await raises the error kept in UV_TARGET. The task itself stands in
     * for the awaited promise, so that a wakeup for the old one is stale. */
    tide_task_push_awaited(L, t);
    lua_getiuservalue(L, t, TIDE_TASK_UV_CO);
    co = lua_tothread(L, -1);
    tide_unsubscribe(L, -2, -1);
    lua_pop(L, 2);
    cancel_children(L, ctx, task, err);
    lua_pushvalue(L, err);
    lua_setiuservalue(L, t, TIDE_TASK_UV_TARGET);
    task->delivering = 1;
    task->awaiting = task;
    tide_wake_push(L, ctx, co, (tide_promise *)task);
  } else if (task->run == TIDE_TASK_RUNNING) {
    /* On the C stack right now: it sees the error at its next await. */
    if (task->cancel_pending) return;
    task->cancel_pending = 1;
    lua_pushvalue(L, err);
    lua_setiuservalue(L, t, TIDE_TASK_UV_TARGET);
    cancel_children(L, ctx, task, err);
  }
}

/* task:cancel([reason]), op:cancel([reason]) -> true if it was pending:
 * stops its work and rejects it with a `cancelled` error. */
static int cancel_with(lua_State *L, const char *mt) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = luaL_checkudata(L, 1, mt);
  lua_settop(L, 2);
  tide_push_cancelled(L, 2);
  /* Cancelled on purpose: its rejection is no lost work (as a task's own
   * cancellation is not). */
  if (p->kind != TIDE_K_TASK && p->state == TIDE_PENDING) p->flags |= TIDE_F_QUIET;
  if (p->kind == TIDE_K_PROMISE) {
    /* An operation with nothing to stop (a zero sleep, which the check
     * phase fulfils unless it is settled by then). */
    int pending = p->state == TIDE_PENDING;
    tide_settle(L, ctx, 1, TIDE_REJECTED, 3);
    lua_pushboolean(L, pending);
    return 1;
  }
  lua_pushboolean(L, tide_cancel(L, ctx, 1, 3));
  return 1;
}
static int m_cancel(lua_State *L) { return cancel_with(L, TIDE_TASK_MT); }
static int m_op_cancel(lua_State *L) { return cancel_with(L, TIDE_OP_MT); }

/* ---------------------------------------------------------------------------
 * await */

enum { AWAIT_RAISE, AWAIT_PROTECTED };

/* Returns the outcome of the settled promise at 1 the way the mode wants. */
static int deliver(lua_State *L, int ok, int mode);

static int settled_result(lua_State *L, tide_promise *p, int mode) {
  int ok = p->state == TIDE_FULFILLED;
  if (!ok) p->flags |= TIDE_F_HANDLED;
  lua_getiuservalue(L, 1, TIDE_UV_STATE);
  return deliver(L, ok, mode);
}

/* Pushes the cancellation error kept in the task's UV_TARGET (clearing it). */
static void take_cancellation(lua_State *L, tide_ctx *ctx, tide_task *task) {
  push_task(L, ctx, task);
  lua_getiuservalue(L, -1, TIDE_TASK_UV_TARGET);
  lua_pushnil(L);
  lua_setiuservalue(L, -3, TIDE_TASK_UV_TARGET);
  lua_remove(L, -2);
  task->cancelled = 1;
}

/* Returns (or raises) the outcome at the top of the stack. */
static int deliver(lua_State *L, int ok, int mode) {
  if (mode == AWAIT_PROTECTED) {
    lua_pushboolean(L, ok);
    lua_insert(L, -2);
    return 2;
  }
  return ok ? 1 : lua_error(L);
}

static int await_k(lua_State *L, int status, lua_KContext mode) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_task *task = tide_task_of(L);
  tide_promise *p;
  (void)status;
  if (ctx->current != task) {
    /* coroutine.resume on a task's coroutine: tide's books no longer match
     * what the coroutine does, so the task ends (see tide_task_wake). */
    task->hijacked = 1;
    return tide_usage_error(L, "%s", HIJACKED_MESSAGE);
  }
  if (task->delivering) {
    task->delivering = 0;
    take_cancellation(L, ctx, task);
    return deliver(L, 0, (int)mode);
  }
  /* stack: the awaited promise, now settled */
  p = lua_touserdata(L, 1);
  lua_getiuservalue(L, 1, TIDE_UV_STATE);
  return deliver(L, p->state == TIDE_FULFILLED, (int)mode);
}

#define SHOWN_FIELDS 12

/* Pushes a rendering of the value at idx that calls no metamethod. */
static void push_shown_raw(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    lua_pushfstring(L, "\"%s\"", lua_tostring(L, idx));
    break;
  case LUA_TNUMBER:
    lua_pushvalue(L, idx);
    lua_tostring(L, -1); /* converts the copy */
    break;
  case LUA_TBOOLEAN:
    lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
    break;
  default:
    lua_pushfstring(L, "(%s)", luaL_typename(L, idx));
  }
}

/* At the interactive prompt lua.c shows an error that is a table without
 * __tostring as "(error object is a table value)": the rejection reason of
 * the promise at 1 is written out first, its fields shown without calling
 * any metamethod. */
static void show_reason(lua_State *L) {
  int top = lua_gettop(L), n = 0, t;
  lua_getiuservalue(L, 1, TIDE_UV_STATE);
  t = lua_type(L, -1);
  if ((t != LUA_TTABLE && t != LUA_TUSERDATA) ||
      luaL_getmetafield(L, -1, "__tostring") != LUA_TNIL || !tide_interactive(L)) {
    lua_settop(L, top);
    return;
  }
  fprintf(stderr, "tide.await: the promise was rejected with a %s", luaL_typename(L, -1));
  if (t == LUA_TTABLE) {
    fprintf(stderr, ": {");
    lua_pushnil(L);
    while (lua_next(L, top + 1)) {
      if (n++ == SHOWN_FIELDS) {
        fprintf(stderr, ", ...");
        lua_settop(L, top + 1);
        break;
      }
      push_shown_raw(L, top + 2);
      push_shown_raw(L, top + 3);
      fprintf(stderr, "%s%s%s%s = %s", n > 1 ? ", " : "",
              lua_type(L, top + 2) == LUA_TSTRING ? "" : "[",
              lua_type(L, top + 2) == LUA_TSTRING ? lua_tostring(L, top + 2)
                                                  : lua_tostring(L, -2),
              lua_type(L, top + 2) == LUA_TSTRING ? "" : "]", lua_tostring(L, -1));
      lua_settop(L, top + 2);
    }
    fprintf(stderr, "}");
  }
  fprintf(stderr, "\n");
  fflush(stderr);
  lua_settop(L, top);
}

static int await_impl(lua_State *L, int mode) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p;
  tide_task *task;
  lua_settop(L, 1);
  p = tide_topromise(L, ctx, 1);
  if (p == NULL && (p = tide_promise_from(L, ctx, 1)) == NULL) {
    /* Not a promise: await returns it as it is. */
    if (mode == AWAIT_PROTECTED) {
      lua_pushboolean(L, 1);
      lua_insert(L, 1);
      return 2;
    }
    return 1;
  }
  if (p->state != TIDE_PENDING) {
    if (p->state == TIDE_REJECTED && mode == AWAIT_RAISE && !ctx->busy) show_reason(L);
    return settled_result(L, p, mode);
  }

  task = tide_current(ctx, L);
  if (task == NULL) {
    if (ctx->busy)
      return tide_usage_error(
          L, "tide.await cannot wait here: the event loop is running but this "
             "code is not in a tide task (a callback, a next() handler, or a "
             "plain coroutine); run it with tide.spawn and await inside");
    /* Top-level await: run the loop until the promise settles. */
    ctx->wait_toplevel(L, ctx, 1, "tide.await");
    if (p->state == TIDE_REJECTED && mode == AWAIT_RAISE) show_reason(L);
    return settled_result(L, p, mode);
  }
  if ((void *)task == (void *)p)
    return tide_usage_error(L, "a task cannot await itself (it would never finish)");
  if (!lua_isyieldable(L))
    return tide_usage_error(
        L, "tide.await cannot wait here: this code runs inside a C function that "
           "Lua cannot suspend (a table.sort comparator, a __tostring or __gc "
           "metamethod, a string.gsub callback, ...); await before or after it");
  if (task->cancel_pending) {
    /* Cancelled while it was running: this await is where it hears of it. */
    task->cancel_pending = 0;
    take_cancellation(L, ctx, task);
    /* What it started since it was cancelled stops too. */
    cancel_children(L, ctx, task, lua_gettop(L));
    return deliver(L, 0, mode);
  }
  tide_gc_stress(L, ctx);
  /* Wait: the coroutine itself is the reaction; p stays alive at index 1 of
   * this frame while it is suspended. */
  task->awaiting = p;
  task->run = TIDE_TASK_WAITING;
  p->flags |= TIDE_F_HANDLED;
  if (lua_getiuservalue(L, 1, TIDE_UV_STATE) == LUA_TNIL) {
    /* The common case, first reaction: set it in place. */
    lua_pushthread(L);
    lua_setiuservalue(L, 1, TIDE_UV_STATE);
  } else {
    lua_pushthread(L);
    tide_subscribe(L, ctx, 1, -1);
  }
  lua_settop(L, 1);
  return lua_yieldk(L, 0, mode, await_k);
}

/* tide.await(x) / p:await() */
static int l_await(lua_State *L) { return await_impl(L, AWAIT_RAISE); }
/* tide.pawait(x) -> true, value | false, err */
static int l_pawait(lua_State *L) { return await_impl(L, AWAIT_PROTECTED); }

/* tide.spawn(fn, ...) -> task */
static int l_spawn(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_spawn(L, ctx, 1, lua_gettop(L) - 1);
  return 1;
}

/* tide.current() -> the running task, or nil */
static int l_current(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_task *task = tide_current(ctx, L);
  if (!task) return 0;
  push_task(L, ctx, task);
  return 1;
}

void tide_task_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"spawn", l_spawn},    {"await", l_await},
                                   {"pawait", l_pawait},  {"current", l_current},
                                   {"tasks", tide_tasks}, {"handles", tide_handles},
                                   {NULL, NULL}};
  static const luaL_Reg task_methods[] = {
      {"cancel", m_cancel}, {"traceback", tide_task_traceback}, {NULL, NULL}};
  static const luaL_Reg promise_methods[] = {{"await", l_await}, {NULL, NULL}};
  static const luaL_Reg op_methods[] = {{"cancel", m_op_cancel}, {NULL, NULL}};
  static const luaL_Reg op_metamethods[] = {{"__tostring", op_tostring}, {NULL, NULL}};
  static const luaL_Reg task_metamethods[] = {{"__tostring", task_tostring},
                                              {NULL, NULL}};
  tide_reaction_register(ctx, TIDE_K_TASK, task_react);
  ctx->wake = task_wake;
  /* stack: core */
  /* Every promise can be awaited: tide.task extends tide.promise. */
  lua_getfield(L, -1, "promise_methods");
  tide_setfuncs(L, ctx, promise_methods);
  lua_pop(L, 1);
  /* An operation's promise is a promise with cancel (DESIGN.md, "Cancelling
   * one operation"); a plain promise has no work to stop and no cancel. */
  tide_class_new(L, ctx, TIDE_OP_MT, TIDE_PROMISE_MT, op_methods, op_metamethods);
  tide_class_strict(L, ctx, TIDE_PROMISE_MT);
  ctx->op_mt = lua_topointer(L, -1);
  lua_pushvalue(L, -1);
  ctx->op_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "operation_mt");
  tide_class_new(L, ctx, TIDE_TASK_MT, TIDE_PROMISE_MT, task_methods, task_metamethods);
  tide_class_strict(L, ctx, TIDE_TASK_MT);
  ctx->task_mt = lua_topointer(L, -1);
  lua_pushvalue(L, -1);
  ctx->task_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "task_mt");
  tide_setfuncs(L, ctx, funcs);
}
