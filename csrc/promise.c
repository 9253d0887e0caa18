/* promise.c -- promise userdata, the Promises/A+ resolution procedure,
 * reactions, and the constructors and methods of tide.promise.
 *
 * A promise is a userdata with a tide_promise header and user values for its
 * settled value and its reactions (TIDE_UV_*). A reaction is one of our own
 * userdata: a derived promise (next/catch, adoption, race), a task waiting in
 * await, or a combinator slot. Settling queues one microtask per reaction;
 * ctx.c's drain runs them in registration order, each through the reaction
 * registered for its kind: promise.c registers TIDE_K_PROMISE and TIDE_K_OP
 * (react_derived), task.c and combinators.c their own kinds.
 *
 * May call: ctx.c, class.c, error.c, ring.c. A waiting task is woken through
 * ctx->wake (task.c sets it); thenable jobs run through ctx->thenable_job. */
#include <string.h>

#include "tide.h"

/* ---------------------------------------------------------------------------
 * Identity */

tide_promise *tide_checkpromise(lua_State *L, tide_ctx *ctx, int idx) {
  tide_promise *p = tide_topromise(L, ctx, idx);
  if (!p) luaL_typeerror(L, idx, TIDE_PROMISE_MT);
  return p;
}

tide_promise *tide_promise_new(lua_State *L, tide_ctx *ctx, size_t size, tide_kind kind,
                               int nuv, const char *mt) {
  tide_promise *p = lua_newuserdatauv(L, size, nuv);
  memset(p, 0, size);
  p->kind = (uint8_t)kind;
  /* The metatables are looked up by ref, which is cheaper than by name. An
   * operation's promise is a tide.operation (a promise with cancel). */
  lua_rawgeti(L, LUA_REGISTRYINDEX,
              kind == TIDE_K_OP || (mt && strcmp(mt, TIDE_OP_MT) == 0) ? ctx->op_mt_ref
              : mt == NULL || strcmp(mt, TIDE_PROMISE_MT) == 0 ? ctx->promise_mt_ref
                                                               : ctx->task_mt_ref);
  lua_setmetatable(L, -2);
  if (ctx->debug_origins) tide_origin_record(L, ctx, -1);
  return p;
}

/* The hot path of tide_promise_new (W2: tide.resolve, next, deferred). */
static tide_promise *new_plain(lua_State *L, tide_ctx *ctx) {
  tide_promise *p = lua_newuserdatauv(L, sizeof(tide_promise), 1);
  memset(p, 0, sizeof *p);
  p->kind = TIDE_K_PROMISE;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->promise_mt_ref);
  lua_setmetatable(L, -2);
  if (__builtin_expect(ctx->debug_origins, 0)) tide_origin_record(L, ctx, -1);
  return p;
}

/* ---------------------------------------------------------------------------
 * Settling and reactions */

/* Queues reaction r of the settled promise at p (its struct: pr). */
static void queue_reaction(lua_State *L, tide_ctx *ctx, int p, const tide_promise *pr,
                           int r) {
  if (lua_type(L, r) == LUA_TTHREAD)
    tide_wake_push(L, ctx, lua_tothread(L, r), pr);
  else
    tide_job_push(L, ctx, p, r);
}

void tide_settle(lua_State *L, tide_ctx *ctx, int p, tide_state st, int v) {
  tide_promise *pr = lua_touserdata(L, p);
  int rtype;
  if (pr->state != TIDE_PENDING) return;
  p = lua_absindex(L, p);
  v = lua_absindex(L, v);
  pr->state = (uint8_t)st;
  pr->flags |= TIDE_F_LOCKED;
  if (pr->flags & TIDE_F_HANDLERS) {
    pr->flags &= (uint8_t)~TIDE_F_HANDLERS;
    lua_pushnil(L);
    lua_setiuservalue(L, p, TIDE_PROMISE_UV_ON_OK);
    lua_pushnil(L);
    lua_setiuservalue(L, p, TIDE_PROMISE_UV_ON_ERR);
  }
  /* The slot held the reactions; from now on it holds the value. */
  rtype = lua_getiuservalue(L, p, TIDE_UV_STATE);
  lua_pushvalue(L, v);
  lua_setiuservalue(L, p, TIDE_UV_STATE);
  if (rtype == LUA_TNIL) {
    lua_pop(L, 1);
    if (st == TIDE_REJECTED && !(pr->flags & TIDE_F_HANDLED))
      tide_track_rejection(L, ctx, p, pr);
    return;
  }
  if (rtype != LUA_TTABLE) {
    queue_reaction(L, ctx, p, pr, -1);
  } else {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      queue_reaction(L, ctx, p, pr, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

void tide_settle_direct(lua_State *L, tide_ctx *ctx, int p, tide_state st, int v) {
  tide_promise *pr = lua_touserdata(L, p);
  if (pr->state != TIDE_PENDING) return;
  p = lua_absindex(L, p);
  v = lua_absindex(L, v);
  if (ctx->q_count == 0 && !ctx->draining && !(pr->flags & TIDE_F_HANDLERS)) {
    if (lua_getiuservalue(L, p, TIDE_UV_STATE) == LUA_TTHREAD) {
      lua_State *co = lua_tothread(L, -1);
      pr->state = (uint8_t)st;
      pr->flags |= TIDE_F_LOCKED;
      lua_pushvalue(L, v);
      lua_setiuservalue(L, p, TIDE_UV_STATE);
      lua_pop(L, 1);
      ctx->wake(L, ctx, co, pr);
      return;
    }
    lua_pop(L, 1);
  }
  tide_settle(L, ctx, p, st, v);
}

void tide_subscribe(lua_State *L, tide_ctx *ctx, int p, int r) {
  tide_promise *pr = lua_touserdata(L, p);
  int rtype;
  pr->flags |= TIDE_F_HANDLED;
  if (pr->state != TIDE_PENDING) {
    queue_reaction(L, ctx, p, pr, r);
    return;
  }
  p = lua_absindex(L, p);
  r = lua_absindex(L, r);
  rtype = lua_getiuservalue(L, p, TIDE_UV_STATE);
  if (rtype == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushvalue(L, r);
    lua_setiuservalue(L, p, TIDE_UV_STATE);
  } else if (rtype != LUA_TTABLE) {
    /* A second reaction: switch from the single value to a list. */
    lua_createtable(L, 4, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, r);
    lua_rawseti(L, -2, 2);
    lua_setiuservalue(L, p, TIDE_UV_STATE);
  } else {
    lua_pushvalue(L, r);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
  }
}

void tide_unsubscribe(lua_State *L, int p, int r) {
  int rtype;
  p = lua_absindex(L, p);
  r = lua_absindex(L, r);
  if (((tide_promise *)lua_touserdata(L, p))->state != TIDE_PENDING) return;
  rtype = lua_getiuservalue(L, p, TIDE_UV_STATE);
  if (rtype != LUA_TTABLE) {
    if (lua_rawequal(L, -1, r)) {
      lua_pushnil(L);
      lua_setiuservalue(L, p, TIDE_UV_STATE);
    }
  } else {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1), i;
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      int found = lua_rawequal(L, -1, r);
      lua_pop(L, 1);
      if (found) break;
    }
    if (i <= n) {
      for (; i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        lua_rawseti(L, -2, i);
      }
      lua_pushnil(L);
      lua_rawseti(L, -2, n);
    }
  }
  lua_pop(L, 1);
}

void tide_push_rejected(lua_State *L, tide_ctx *ctx, int e, int quiet) {
  tide_promise *p;
  e = lua_absindex(L, e);
  p = new_plain(L, ctx);
  p->flags |= TIDE_F_HANDLED | (quiet ? TIDE_F_QUIET : 0);
  tide_settle(L, ctx, -1, TIDE_REJECTED, e);
}

/* A derived promise (next/catch/adoption/race) reacting to its source: the
 * reaction of kinds TIDE_K_PROMISE and TIDE_K_OP. */
static void react_derived(lua_State *L, tide_ctx *ctx, int p, int d) {
  tide_promise *src = lua_touserdata(L, p), *dp = lua_touserdata(L, d);
  if (dp->state != TIDE_PENDING) return;
  if (dp->flags & TIDE_F_HANDLERS) {
    dp->flags &= (uint8_t)~TIDE_F_HANDLERS;
    lua_getiuservalue(L, d,
                      src->state == TIDE_FULFILLED ? TIDE_PROMISE_UV_ON_OK
                                                   : TIDE_PROMISE_UV_ON_ERR);
    lua_pushnil(L);
    lua_setiuservalue(L, d, TIDE_PROMISE_UV_ON_OK);
    lua_pushnil(L);
    lua_setiuservalue(L, d, TIDE_PROMISE_UV_ON_ERR);
    if (!lua_isnil(L, -1)) {
      lua_getiuservalue(L, p, TIDE_UV_STATE);
      tide_gc_stress(L, ctx);
      if (lua_pcall(L, 1, 1, 0) == LUA_OK)
        tide_resolve(L, ctx, d, -1);
      else
        tide_settle(L, ctx, d, TIDE_REJECTED, -1);
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
  }
  /* No handler for this outcome: pass it through unchanged (A+ 2.2.7.3-4). */
  lua_getiuservalue(L, p, TIDE_UV_STATE);
  tide_settle(L, ctx, d, (tide_state)src->state, -1);
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------
 * The resolution procedure (Promises/A+ 2.3) */

/* Protected: pushes x.next if callable, else x.then. Indexing may run
 * __index, which may raise (A+ 2.3.3.2). */
static int get_then(lua_State *L) {
  if (lua_getfield(L, 1, "next") != LUA_TNIL && tide_is_callable(L, -1)) return 1;
  lua_pop(L, 1);
  lua_getfield(L, 1, "then");
  return 1;
}

/* Could the value at v be a thenable: a table or userdata with a metatable
 * (a userdata only if that metatable can index it). */
static int may_be_thenable(lua_State *L, int v) {
  int t = lua_type(L, v);
  if (t == LUA_TTABLE) {
    if (!lua_getmetatable(L, v)) return 0;
    lua_pop(L, 1);
    return 1;
  }
  if (t == LUA_TUSERDATA) {
    if (luaL_getmetafield(L, v, "__index") == LUA_TNIL) return 0;
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* Looks up the then-method of the value at v. Returns 1 with the method
 * pushed, 0 (nothing pushed) if it has none, -1 with the error pushed if
 * looking it up raised. */
static int lookup_then(lua_State *L, int v) {
  if (!may_be_thenable(L, v)) return 0;
  lua_pushcfunction(L, get_then);
  lua_pushvalue(L, v);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) return -1;
  if (!lua_isnil(L, -1) && tide_is_callable(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* Queues the job that calls then(x, resolve, reject) for promise p. */
static void queue_thenable_job(lua_State *L, tide_ctx *ctx, int p, int x, int then) {
  lua_createtable(L, 3, 0);
  lua_pushvalue(L, p);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, x);
  lua_rawseti(L, -2, 2);
  lua_pushvalue(L, then);
  lua_rawseti(L, -2, 3);
  lua_pushboolean(L, 0);
  tide_job_push(L, ctx, -2, -1);
  lua_pop(L, 2);
}

void tide_resolve(lua_State *L, tide_ctx *ctx, int p, int v) {
  tide_promise *pr = lua_touserdata(L, p), *x;
  int found, vt;
  if (pr->state != TIDE_PENDING) return;
  pr->flags |= TIDE_F_LOCKED;
  vt = lua_type(L, v);
  if (vt != LUA_TTABLE && vt != LUA_TUSERDATA) {
    /* Not an object: cannot be a thenable (the common, fast case). */
    tide_settle(L, ctx, p, TIDE_FULFILLED, v);
    return;
  }
  p = lua_absindex(L, p);
  v = lua_absindex(L, v);
  if (lua_rawequal(L, p, v)) {
    tide_error_push(L, "type", "a promise cannot be resolved with itself");
    tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    lua_pop(L, 1);
    return;
  }
  if ((x = tide_topromise(L, ctx, v)) != NULL) {
    /* Our own promise: adopt its state directly (A+ 2.3.2). */
    if (x->state != TIDE_PENDING) {
      x->flags |= TIDE_F_HANDLED;
      lua_getiuservalue(L, v, TIDE_UV_STATE);
      tide_settle(L, ctx, p, (tide_state)x->state, -1);
      lua_pop(L, 1);
    } else {
      if (pr->kind == TIDE_K_TASK) {
        /* A task reacts only to the promise in its UV_TARGET (tide_react). */
        lua_pushvalue(L, v);
        lua_setiuservalue(L, p, TIDE_TASK_UV_TARGET);
      }
      tide_subscribe(L, ctx, v, p);
    }
    return;
  }
  found = lookup_then(L, v);
  if (found < 0) {
    tide_settle(L, ctx, p, TIDE_REJECTED, -1);
    lua_pop(L, 1);
  } else if (found > 0) {
    queue_thenable_job(L, ctx, p, v, lua_gettop(L));
    lua_pop(L, 1);
  } else {
    tide_settle(L, ctx, p, TIDE_FULFILLED, v);
  }
}

tide_promise *tide_promise_from(lua_State *L, tide_ctx *ctx, int idx) {
  tide_promise *p = tide_topromise(L, ctx, idx);
  int found;
  if (p) return p;
  idx = lua_absindex(L, idx);
  found = lookup_then(L, idx);
  if (found == 0) return NULL;
  p = new_plain(L, ctx);
  p->flags |= TIDE_F_LOCKED;
  if (found < 0) {
    tide_settle(L, ctx, -1, TIDE_REJECTED, -2);
  } else {
    queue_thenable_job(L, ctx, lua_gettop(L), idx, lua_gettop(L) - 1);
  }
  lua_replace(L, idx);
  lua_pop(L, 1);
  return p;
}

/* Resolving functions handed to a thenable's then-method: the pair shares a
 * one-shot flag (A+ 2.3.3.3.3). upvalues: ctx, promise, flag userdata. */
static int thenable_settle(lua_State *L, int rejecting) {
  tide_ctx *ctx = tide_ctx_up(L);
  unsigned char *called = lua_touserdata(L, lua_upvalueindex(3));
  lua_settop(L, 1);
  if (*called) return 0;
  *called = 1;
  lua_pushvalue(L, lua_upvalueindex(2));
  if (rejecting) {
    tide_settle(L, ctx, 2, TIDE_REJECTED, 1);
  } else {
    /* Unlock: the promise was locked on the thenable; this is its outcome. */
    tide_promise *p = lua_touserdata(L, 2);
    if (p->state == TIDE_PENDING) {
      p->flags &= (uint8_t)~TIDE_F_LOCKED;
      tide_resolve(L, ctx, 2, 1);
    }
  }
  return 0;
}

static int thenable_resolve(lua_State *L) { return thenable_settle(L, 0); }
static int thenable_reject(lua_State *L) { return thenable_settle(L, 1); }

/* ctx->thenable_job: the drain runs a queued thenable job. */
static void thenable_job(lua_State *L, tide_ctx *ctx) {
  int job = lua_gettop(L);
  unsigned char *called;
  lua_rawgeti(L, job, 3); /* then */
  lua_rawgeti(L, job, 2); /* x */
  tide_push_ctx(L, ctx);
  lua_rawgeti(L, job, 1);
  called = lua_newuserdatauv(L, 1, 0);
  *called = 0;
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, thenable_resolve, 3); /* then x ctx p flag resolve */
  lua_insert(L, -4);
  lua_pushcclosure(L, thenable_reject, 3); /* then x resolve reject */
  tide_gc_stress(L, ctx);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    /* An error after either function was called is ignored (2.3.3.3.4.1). */
    if (!*called) {
      *called = 1;
      lua_rawgeti(L, job, 1);
      tide_settle(L, ctx, -1, TIDE_REJECTED, -2);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, job - 1);
}

/* ---------------------------------------------------------------------------
 * Constructors */

/* Resolving functions of tide.promise / tide.deferred.
 * upvalues: ctx, promise. Once the promise is locked they do nothing. */
static int resolver_resolve(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = lua_touserdata(L, lua_upvalueindex(2));
  if (p->flags & TIDE_F_LOCKED) return 0;
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  tide_resolve(L, ctx, 2, 1);
  return 0;
}

static int resolver_reject(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = lua_touserdata(L, lua_upvalueindex(2));
  if (p->flags & TIDE_F_LOCKED) return 0;
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  tide_settle(L, ctx, 2, TIDE_REJECTED, 1);
  return 0;
}

/* stack: ... promise -> ... promise resolve reject */
static void push_resolvers(lua_State *L, tide_ctx *ctx) {
  tide_push_ctx(L, ctx);
  lua_pushvalue(L, -1);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, resolver_resolve, 2); /* promise ctx resolve */
  lua_insert(L, -2);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, resolver_reject, 2);
}

/* tide.deferred() -> promise, resolve, reject */
static int l_deferred(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  new_plain(L, ctx);
  push_resolvers(L, ctx);
  return 3;
}

/* tide.promise(executor) -> promise; executor(resolve, reject) runs now. */
static int l_promise(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p;
  if (!tide_is_callable(L, 1)) luaL_typeerror(L, 1, "function");
  lua_settop(L, 1);
  p = new_plain(L, ctx); /* 2 */
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  push_resolvers(L, ctx);
  lua_remove(L, -3);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    /* An executor that raises rejects, unless it resolved first. */
    if (!(p->flags & TIDE_F_LOCKED)) tide_settle(L, ctx, 2, TIDE_REJECTED, -1);
    lua_pop(L, 1);
  }
  return 1;
}

/* tide.resolve(v): v itself if it is a tide promise, else a promise that
 * adopts v. */
static int l_resolve(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  int t;
  lua_settop(L, 1);
  t = lua_type(L, 1);
  if (t != LUA_TTABLE && t != LUA_TUSERDATA) {
    /* A plain value: born fulfilled, nothing can be waiting on it yet. */
    tide_promise *p = new_plain(L, ctx);
    p->state = TIDE_FULFILLED;
    p->flags = TIDE_F_LOCKED;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 2, TIDE_UV_STATE);
    return 1;
  }
  if (tide_topromise(L, ctx, 1)) return 1;
  new_plain(L, ctx);
  tide_resolve(L, ctx, 2, 1);
  return 1;
}

/* tide.reject(err) */
static int l_reject(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  lua_settop(L, 1);
  new_plain(L, ctx);
  tide_settle(L, ctx, 2, TIDE_REJECTED, 1);
  return 1;
}

/* ---------------------------------------------------------------------------
 * Methods */

/* p:next(on_fulfilled, on_rejected) -> derived promise (A+ then). Handlers
 * that are not callable are ignored (2.2.1). */
static int m_next(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *d;
  int ok_cb, err_cb;
  tide_checkpromise(L, ctx, 1);
  lua_settop(L, 3);
  ok_cb = !lua_isnil(L, 2) && tide_is_callable(L, 2);
  err_cb = !lua_isnil(L, 3) && tide_is_callable(L, 3);
  d = tide_promise_new(L, ctx, sizeof(tide_promise), TIDE_K_PROMISE,
                       ok_cb || err_cb ? 3 : 1, NULL);
  if (ok_cb || err_cb) {
    d->flags |= TIDE_F_HANDLERS;
    if (ok_cb) {
      lua_pushvalue(L, 2);
      lua_setiuservalue(L, 4, TIDE_PROMISE_UV_ON_OK);
    }
    if (err_cb) {
      lua_pushvalue(L, 3);
      lua_setiuservalue(L, 4, TIDE_PROMISE_UV_ON_ERR);
    }
  }
  tide_subscribe(L, ctx, 1, 4);
  return 1;
}

/* p:catch(on_rejected) */
static int m_catch(lua_State *L) {
  lua_settop(L, 2);
  lua_pushnil(L);
  lua_insert(L, 2);
  return m_next(L);
}

static const char *const state_names[] = {"pending", "fulfilled", "rejected"};

/* p:state() -> "pending" | "fulfilled" | "rejected" */
static int m_state(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = tide_checkpromise(L, ctx, 1);
  lua_pushstring(L, state_names[p->state]);
  return 1;
}

/* p:peek() -> state [, value]: a look that never waits (for the REPL). */
static int m_peek(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_promise *p = tide_checkpromise(L, ctx, 1);
  lua_pushstring(L, state_names[p->state]);
  if (p->state == TIDE_PENDING) return 1;
  if (p->state == TIDE_REJECTED) p->flags |= TIDE_F_HANDLED;
  lua_getiuservalue(L, 1, TIDE_UV_STATE);
  return 2;
}

#define SHOW_MAX 60

/* Pushes a short rendering of the value at idx: strings quoted, anything
 * long cut at SHOW_MAX bytes. */
static void push_shown(lua_State *L, int idx) {
  size_t len;
  int is_str = lua_type(L, idx) == LUA_TSTRING;
  const char *s = is_str ? lua_tolstring(L, idx, &len) : luaL_tolstring(L, idx, &len);
  lua_pushlstring(L, s, len > SHOW_MAX ? SHOW_MAX : len);
  lua_pushfstring(L, is_str ? "\"%s%s\"" : "%s%s", lua_tostring(L, -1),
                  len > SHOW_MAX ? "..." : "");
  lua_replace(L, -2);
  if (!is_str) lua_replace(L, -2);
}

void tide_promise_push_tostring(lua_State *L, int idx, const char *name,
                                const char *pending) {
  tide_promise *p = lua_touserdata(L, idx);
  idx = lua_absindex(L, idx);
  if (p->state == TIDE_PENDING) {
    lua_pushfstring(L, "%s (%s)", name, pending);
    return;
  }
  lua_getiuservalue(L, idx, TIDE_UV_STATE);
  push_shown(L, -1);
  lua_pushfstring(L, "%s (%s: %s)", name, state_names[p->state], lua_tostring(L, -1));
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* __tostring of tide.promise */
static int promise_tostring(lua_State *L) {
  tide_ctx *ctx = tide_ctx_up(L);
  tide_checkpromise(L, ctx, 1);
  lua_settop(L, 1);
  tide_promise_push_tostring(L, 1, TIDE_PROMISE_MT, "pending");
  return 1;
}

/* __index of a promise class's methods table: a miss. upvalues: ctx, the
 * class's name as shown. (methods, key) */
static int no_field(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (lua_type(L, 2) != LUA_TSTRING || (k[0] == '_' && k[1] == '_') ||
      strcmp(k, "then") == 0 || strcmp(k, "cancel") == 0)
    return 0;
  return luaL_error(L, "%s has no field '%s' (did you forget :await()?)",
                    lua_tostring(L, lua_upvalueindex(2)), k);
}

void tide_class_strict(lua_State *L, tide_ctx *ctx, const char *shown) {
  lua_getfield(L, -1, "__index");
  lua_createtable(L, 0, 1);
  tide_push_ctx(L, ctx);
  lua_pushstring(L, shown);
  lua_pushcclosure(L, no_field, 2);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

void tide_promise_open(lua_State *L, tide_ctx *ctx) {
  static const luaL_Reg funcs[] = {{"promise", l_promise},
                                   {"deferred", l_deferred},
                                   {"resolve", l_resolve},
                                   {"reject", l_reject},
                                   {NULL, NULL}};
  static const luaL_Reg methods[] = {{"next", m_next},
                                     {"catch", m_catch},
                                     {"state", m_state},
                                     {"peek", m_peek},
                                     {NULL, NULL}};
  tide_reaction_register(ctx, TIDE_K_PROMISE, react_derived);
  tide_reaction_register(ctx, TIDE_K_OP, react_derived);
  ctx->thenable_job = thenable_job;
  static const luaL_Reg metamethods[] = {{"__tostring", promise_tostring}, {NULL, NULL}};
  /* stack: core */
  tide_class_new(L, ctx, TIDE_PROMISE_MT, NULL, methods, metamethods);
  tide_class_strict(L, ctx, TIDE_PROMISE_MT);
  ctx->promise_mt = lua_topointer(L, -1);
  lua_pushvalue(L, -1);
  ctx->promise_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  ctx->op_mt_ref = ctx->promise_mt_ref; /* until task.c makes tide.operation */
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "promise_methods"); /* for the fuzzer; extend with interpose */
  lua_setfield(L, -2, "promise_mt");
  tide_setfuncs(L, ctx, funcs);
}
