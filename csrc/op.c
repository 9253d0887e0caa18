/* op.c -- operations: anything pending that can be stopped (a timer, a
 * transfer, a file request, a child task), tied to the task that started
 * it; their cancellation (tide_cancel, core.cancel, `cancelled` errors);
 * operations written in Lua (core.operation); and abort signals as C
 * operations see them (tide_opt_signal, tide_link_signal, the tide.signal
 * class whose methods lua/tide/signal.lua adds through core.interpose).
 *
 * May call: ctx.c, class.c, error.c, promise.c. A task's own cancellation is its op
 * class's cancel (task.c): reached through the pointer, not by name. */
#include "task.h"
#include "tide.h"

/* ---------------------------------------------------------------------------
 * Operations */

void tide_op_start(lua_State *L, tide_ctx *ctx, int p, tide_op *op,
                   const tide_op_class *cls) {
  tide_task *owner = ctx->current;
  /* Where it started, for tide.handles and tide.dump (a promise made with
   * debug origins on has it already). */
  if (cls->origin && !ctx->debug_origins) tide_origin_record(L, ctx, p);
  lua_pushvalue(L, p);
  op->ref = tide_anchor(L, ctx);
  op->cls = cls;
  op->owner = owner;
  op->prev = NULL;
  op->next = owner ? owner->children : NULL;
  if (owner) {
    if (op->next) op->next->prev = op;
    owner->children = op;
  }
}

/* Removes op from its owner's list; the op stays anchored. */
void tide_op_untie(tide_op *op) {
  if (!op->owner) return;
  if (op->prev)
    op->prev->next = op->next;
  else
    op->owner->children = op->next;
  if (op->next) op->next->prev = op->prev;
  op->owner = NULL;
  op->prev = op->next = NULL;
}

void tide_op_done(lua_State *L, tide_ctx *ctx, tide_op *op) {
  tide_op_untie(op);
  tide_unanchor(L, ctx, op->ref);
  op->ref = LUA_NOREF;
}

int tide_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  tide_promise *pr = tide_topromise(L, ctx, p);
  tide_op *op;
  if (!pr || pr->state != TIDE_PENDING) return 0;
  p = lua_absindex(L, p);
  err = lua_absindex(L, err);
  if (pr->kind == TIDE_K_TASK && ((tide_task *)pr)->run == TIDE_TASK_DONE) {
    /* The body returned a promise (or a foreign thenable) that the task
     * follows: cancel that if it is ours and can be cancelled. */
    lua_getiuservalue(L, p, TIDE_TASK_UV_TARGET);
    if (!tide_cancel(L, ctx, -1, err)) {
      /* It cannot be stopped: stop following it, and end. (A thenable that
       * settles later finds the task settled: that is ignored.) */
      if (tide_topromise(L, ctx, -1)) tide_unsubscribe(L, -1, p);
      lua_pushnil(L);
      lua_setiuservalue(L, p, TIDE_TASK_UV_TARGET);
      pr->flags |= TIDE_F_QUIET;
      tide_settle(L, ctx, p, TIDE_REJECTED, err);
    }
    lua_pop(L, 1);
    return 1;
  }
  op = tide_promise_op(pr);
  if (!op || !op->cls || op->ref == LUA_NOREF) return 0;
  op->cls->cancel(L, ctx, p, err);
  return 1;
}

/* Pushes a new `cancelled` error whose reason is the value at idx. */
void tide_push_cancelled(lua_State *L, int reason) {
  reason = lua_absindex(L, reason);
  if (lua_type(L, reason) == LUA_TSTRING)
    tide_error_push(L, "cancelled", "%s", lua_tostring(L, reason));
  else if (tide_is_error(L, reason, NULL)) {
    lua_getfield(L, reason, "kind");
    tide_error_push(L, "cancelled", "cancelled because of a %s error",
                    lua_isstring(L, -1) ? lua_tostring(L, -1) : "tide");
    lua_remove(L, -2);
  } else
    tide_error_push(L, "cancelled", "task cancelled");
  lua_pushvalue(L, reason);
  lua_setfield(L, -2, "reason");
  if (tide_is_error(L, reason, NULL)) {
    lua_pushvalue(L, reason);
    lua_setfield(L, -2, "cause");
  }
}

/* core.cancel(promise, err) -> boolean: cancel a task or operation with the
 * given error (used by timeouts and abort signals). */
static int l_cancel(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_settop(L, 2);
  lua_pushboolean(L, tide_cancel(L, ctx, 1, 2));
  return 1;
}

/* core.cancelled_error(reason) -> a new `cancelled` error */
static int l_cancelled_error(lua_State *L) {
  lua_settop(L, 1);
  tide_push_cancelled(L, 1);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Operations written in Lua */

/* A Lua-level operation (a channel receive, a semaphore wait, ...): a
 * promise that belongs to the task that started it, like a timer, so that
 * cancelling that task (or a signal) cancels it. */
/* After TIDE_UV_STATE: the on_cancel function, called with the error before
 * the promise rejects with it. */
enum { LUA_OP_UV_ON_CANCEL = 2 };
static void lua_op_cancel(lua_State *L, tide_ctx *ctx, int p, int err) {
  tide_op_promise *op = lua_touserdata(L, p);
  tide_op_done(L, ctx, &op->op);
  if (lua_getiuservalue(L, p, LUA_OP_UV_ON_CANCEL) == LUA_TFUNCTION) {
    lua_pushvalue(L, err);
    tide_call_cb(L, ctx, 1);
  } else {
    lua_pop(L, 1);
  }
  tide_settle(L, ctx, p, TIDE_REJECTED, err);
}

static const tide_op_class lua_op_class = {"operation", lua_op_cancel, NULL, 0};

/* The settling functions of core.operation. upvalues: ctx, the promise. */
static int lua_op_settle(lua_State *L, tide_state st) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_op_promise *op = lua_touserdata(L, lua_upvalueindex(2));
  if (op->promise.state != TIDE_PENDING) return 0;
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  tide_op_done(L, ctx, &op->op);
  if (st == TIDE_FULFILLED)
    tide_resolve(L, ctx, 2, 1);
  else
    tide_settle(L, ctx, 2, TIDE_REJECTED, 1);
  return 0;
}

static int lua_op_resolve(lua_State *L) { return lua_op_settle(L, TIDE_FULFILLED); }
static int lua_op_reject(lua_State *L) { return lua_op_settle(L, TIDE_REJECTED); }

/* core.operation([on_cancel]) -> promise, resolve, reject */
static int l_operation(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_op_promise *op;
  if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  op = (tide_op_promise *)tide_promise_new(L, ctx, sizeof *op, TIDE_K_OP, 2, NULL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 2, LUA_OP_UV_ON_CANCEL);
  tide_op_start(L, ctx, 2, &op->op, &lua_op_class);
  tide_push_ctx(L, ctx);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, lua_op_resolve, 2);
  tide_push_ctx(L, ctx);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, lua_op_reject, 2);
  return 3;
}

/* core.op_settled(ok, v) -> the promise of an operation that finished at
 * once (a channel receive that found a value): fulfilled with v, or
 * rejected with it when ok is false. It has cancel, which does nothing. */
static int l_op_settled(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  int ok = lua_toboolean(L, 1);
  lua_settop(L, 2);
  tide_promise_new(L, ctx, sizeof(tide_op_promise), TIDE_K_OP, 1, NULL);
  if (ok)
    tide_resolve(L, ctx, 3, 2);
  else
    tide_settle(L, ctx, 3, TIDE_REJECTED, 2);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Abort signals (their methods are written in Lua: lua/tide/signal.lua) */

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

void tide_link_signal(lua_State *L, int sig, int p) {
  sig = lua_absindex(L, sig);
  p = lua_absindex(L, p);
  /* The Lua layer's signal._link(signal, promise), set with core.interpose. */
  luaL_getmetatable(L, TIDE_SIGNAL_MT);
  lua_getfield(L, -1, "__index");
  if (lua_getfield(L, -1, "_link") != LUA_TFUNCTION)
    luaL_error(L, "tide: tide.signal has no _link method (lua/tide/signal.lua sets it)");
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_pushvalue(L, sig);
  lua_pushvalue(L, p);
  lua_call(L, 2, 0);
}

void tide_op_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"cancel", l_cancel},
                                   {"cancelled_error", l_cancelled_error},
                                   {"operation", l_operation},
                                   {"op_settled", l_op_settled},
                                   {NULL, NULL}};
  /* stack: core */
  tide_class_new(L, ctx, TIDE_SIGNAL_MT, NULL, NULL, NULL);
  lua_setfield(L, -2, "signal_mt");
  tide_setfuncs(L, ctx, funcs);
}
